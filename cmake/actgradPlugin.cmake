# actgrad_add_plugin(NAME SOURCES file.cc ...)
#
# Builds a plugin: a shared module that links the shared actgrad core (so it
# registers into the same registry as the program that loads it) and
# defines its entry points with ACTGRAD_PLUGIN (ops/plugin.h). Load it with
# `actgrad gradcheck --plugin $<TARGET_FILE:NAME>`.
#
# It is compiled for the processor ACTGRAD_ARCH names (-march; the
# library's own build sets it to native, a consumer may set it before the
# call): activations defined by a generic formula then run on packets
# (ops/generic_packet.h) where that processor has AVX-512 or AVX2, and
# element by element where it has neither.
function(actgrad_add_plugin name)
  cmake_parse_arguments(PLUGIN "" "" "SOURCES" ${ARGN})
  if(NOT PLUGIN_SOURCES)
    message(FATAL_ERROR "actgrad_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${PLUGIN_SOURCES})
  if(TARGET actgrad::core)
    target_link_libraries(${name} PRIVATE actgrad::core)
  else()
    target_link_libraries(${name} PRIVATE actgrad_core)
  endif()
  if(ACTGRAD_ARCH)
    target_compile_options(${name} PRIVATE -march=${ACTGRAD_ARCH})
  endif()
  set_target_properties(${name} PROPERTIES CXX_VISIBILITY_PRESET hidden)
endfunction()
