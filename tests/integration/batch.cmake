# Many runs at once (generate_async, generate_batch, the Client's scheduler) against the real
# runbase-emulator, counted from its side (GET /_emulator/stats).
if(NOT TARGET runbase_test_support)
  return()
endif()
add_executable(runbase_batch_tests ${CMAKE_CURRENT_LIST_DIR}/batch_test.cpp)
target_include_directories(runbase_batch_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(runbase_batch_tests PRIVATE runbase::runbase runbase_test_support
  nlohmann_json::nlohmann_json GTest::gtest_main runbase_warnings)
gtest_discover_tests(runbase_batch_tests PROPERTIES LABELS integration-threads
                     DISCOVERY_TIMEOUT 30)
