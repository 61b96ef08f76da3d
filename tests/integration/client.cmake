# The Client through the public library and the real libcurl transport, against in-process
# hostile servers. Their own executable and label: they run under ThreadSanitizer too (the tsan
# test preset selects integration-hostile), the emulator ones below do not.
add_executable(runbase_client_hostile_tests ${CMAKE_CURRENT_LIST_DIR}/client_hostile_test.cpp)
target_include_directories(runbase_client_hostile_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(runbase_client_hostile_tests PRIVATE
  runbase::runbase runbase_hostile_support runbase_httplib GTest::gtest_main runbase_warnings)
gtest_discover_tests(runbase_client_hostile_tests PROPERTIES LABELS integration-hostile
                     DISCOVERY_TIMEOUT 30)

# The Client against runbase-emulator. This and the soak below have labels of their own so the
# tsan test preset can select them (one label per executable: CMake 3.25's gtest_discover_tests
# mishandles a list of labels).
add_executable(runbase_client_integration_tests
  ${CMAKE_CURRENT_LIST_DIR}/client_emulator_test.cpp)
target_include_directories(runbase_client_integration_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(runbase_client_integration_tests PRIVATE
  runbase::runbase runbase_test_support runbase_httplib nlohmann_json::nlohmann_json
  GTest::gtest_main runbase_warnings)
gtest_discover_tests(runbase_client_integration_tests PROPERTIES LABELS integration-client
                     DISCOVERY_TIMEOUT 30)

# The fault soak (issue 6): many runs from many threads against a faulty emulator.
add_executable(runbase_soak_tests ${CMAKE_CURRENT_LIST_DIR}/soak_test.cpp)
target_include_directories(runbase_soak_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(runbase_soak_tests PRIVATE runbase::runbase runbase_test_support
  nlohmann_json::nlohmann_json GTest::gtest_main runbase_warnings)
gtest_discover_tests(runbase_soak_tests PROPERTIES LABELS integration-soak DISCOVERY_TIMEOUT 30)
