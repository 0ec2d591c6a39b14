// -----------------------------------------------------------------------------
// File: text.h
// -----------------------------------------------------------------------------
//
// Helpers for text that comes from files the program does not control: a
// check that bytes are UTF-8, and quoting for error messages that stays one
// short, printable line whatever the file held (a megabyte of binary garbage
// in a CSV cell, control characters in a tensor name).
//
// Example:
//
//   if (!actgrad::io::IsValidUtf8(name)) {
//     return absl::InvalidArgumentError(absl::StrCat(
//         path, ": name ", actgrad::io::QuoteForMessage(name), " is not UTF-8"));
//   }
//   // QuoteForMessage("a\x01b") is "\"a\\x01b\"", printed as "a\x01b" in quotes.

#ifndef ACTGRAD_IO_TEXT_H_
#define ACTGRAD_IO_TEXT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace actgrad::io {

// True when `text` is well-formed UTF-8: no overlong forms, no surrogates,
// nothing above U+10FFFF.
bool IsValidUtf8(absl::string_view text);

// `text` in double quotes, with '"' and '\' backslash-escaped and control
// bytes written as \xNN (and bytes from 0x80 too when `text` is not UTF-8,
// so the message stays text). Text longer than `max_bytes` is cut on a UTF-8
// character boundary and followed by "... (N bytes)".
std::string QuoteForMessage(absl::string_view text, size_t max_bytes = 40);

}  // namespace actgrad::io

#endif  // ACTGRAD_IO_TEXT_H_
