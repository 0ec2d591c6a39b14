# actgrad_add_plugin(NAME SOURCES file.cc ...)
#
# Builds a plugin: a shared module that links the shared actgrad core (so it
# registers into the same registry as the program that loads it) and
# defines its entry points with ACTGRAD_PLUGIN (ops/plugin.h). Load it with
# `actgrad gradcheck --plugin $<TARGET_FILE:NAME>`.
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
  set_target_properties(${name} PROPERTIES CXX_VISIBILITY_PRESET hidden)
endfunction()
