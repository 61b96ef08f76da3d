# runbase-emulator: its integration tests, and runbase_test_support, the EmulatorProcess helper
# that every test executable driving the real emulator links.
if(NOT TARGET runbase-emulator)
  message(STATUS "runbase: RUNBASE_BUILD_TOOLS is off, so the emulator tests are not built")
  return()
endif()

add_library(runbase_test_support STATIC ${PROJECT_SOURCE_DIR}/tests/support/emulator_process.cpp)
target_compile_features(runbase_test_support PUBLIC cxx_std_17)
target_include_directories(runbase_test_support PUBLIC ${PROJECT_SOURCE_DIR}/tests)
target_compile_definitions(runbase_test_support
  PRIVATE RUNBASE_EMULATOR_PATH="$<TARGET_FILE:runbase-emulator>")
target_link_libraries(runbase_test_support PRIVATE runbase_httplib runbase_warnings)
# Whoever links the helper needs the binary it starts.
add_dependencies(runbase_test_support runbase-emulator)

add_executable(runbase_emulator_tests ${CMAKE_CURRENT_SOURCE_DIR}/emulator_test.cpp)
target_compile_definitions(runbase_emulator_tests
  PRIVATE RUNBASE_EMULATOR_PATH="$<TARGET_FILE:runbase-emulator>")
target_link_libraries(runbase_emulator_tests PRIVATE runbase_test_support runbase_emulator_lib
  runbase_httplib nlohmann_json::nlohmann_json GTest::gtest_main runbase_warnings)
gtest_discover_tests(runbase_emulator_tests PROPERTIES LABELS integration DISCOVERY_TIMEOUT 30)
