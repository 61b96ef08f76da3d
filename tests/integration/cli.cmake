# The runbase command-line program and the examples, run as child processes against a real
# runbase-emulator (EmulatorProcess from runbase_test_support, defined in emulator.cmake).
if(NOT TARGET runbase-cli OR NOT TARGET runbase_test_support)
  message(STATUS "runbase: RUNBASE_BUILD_TOOLS is off, so the CLI tests are not built")
  return()
endif()

add_executable(runbase_cli_tests
  ${CMAKE_CURRENT_SOURCE_DIR}/cli_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/cli_process.cpp)
target_compile_definitions(runbase_cli_tests PRIVATE RUNBASE_CLI_PATH="$<TARGET_FILE:runbase-cli>")
# The tests run the binaries, so building the tests builds them.
add_dependencies(runbase_cli_tests runbase-cli)

if(TARGET runbase_example_quickstart)
  target_sources(runbase_cli_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/examples_test.cpp)
  foreach(example quickstart reference_images error_handling custom_transport batch async models)
    string(TOUPPER ${example} example_macro)
    target_compile_definitions(runbase_cli_tests PRIVATE
      RUNBASE_EXAMPLE_${example_macro}="$<TARGET_FILE:runbase_example_${example}>")
    add_dependencies(runbase_cli_tests runbase_example_${example})
  endforeach()
endif()

target_link_libraries(runbase_cli_tests PRIVATE runbase_cli_lib runbase_test_support
  runbase_hostile_support nlohmann_json::nlohmann_json GTest::gtest_main runbase_warnings)
gtest_discover_tests(runbase_cli_tests PROPERTIES LABELS integration DISCOVERY_TIMEOUT 30)
