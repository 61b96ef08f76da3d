# The Client through the public library and the real libcurl transport, against runbase-emulator
# and against in-process hostile servers.
add_executable(runbase_client_integration_tests
  ${CMAKE_CURRENT_LIST_DIR}/client_emulator_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/client_hostile_test.cpp)
target_include_directories(runbase_client_integration_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(runbase_client_integration_tests PRIVATE
  runbase::runbase runbase_test_support runbase_hostile_support runbase_httplib
  GTest::gtest_main runbase_warnings)
gtest_discover_tests(runbase_client_integration_tests PROPERTIES LABELS integration
                     DISCOVERY_TIMEOUT 30)
