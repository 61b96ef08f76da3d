# The libcurl transport against real servers on loopback: cpp-httplib servers (plain and TLS) and
# bare sockets for what a real server must never do.

find_package(ZLIB REQUIRED)

# Hostile servers and in-process TLS certificates, shared with the client integration tests.
add_library(runbase_hostile_support STATIC
  ${PROJECT_SOURCE_DIR}/tests/support/hostile_server.cpp
  ${PROJECT_SOURCE_DIR}/tests/support/test_tls.cpp)
target_include_directories(runbase_hostile_support PUBLIC ${PROJECT_SOURCE_DIR}/tests)
target_compile_features(runbase_hostile_support PUBLIC cxx_std_17)
target_link_libraries(runbase_hostile_support
  PUBLIC runbase_httplib OpenSSL::SSL OpenSSL::Crypto Threads::Threads
  PRIVATE runbase_warnings)
# The HTTP/2 tests need nghttpd (Debian: nghttp2-server, which scripts/test.sh installs): an
# HTTP/2-only server, as cpp-httplib cannot speak HTTP/2.
find_program(RUNBASE_NGHTTPD nghttpd PATHS /usr/sbin /usr/local/sbin)
if(RUNBASE_NGHTTPD)
  target_compile_definitions(runbase_hostile_support PUBLIC RUNBASE_NGHTTPD="${RUNBASE_NGHTTPD}")
else()
  message(STATUS "nghttpd not found (Debian: nghttp2-server): the HTTP/2 tests are skipped")
endif()

add_executable(runbase_transport_tests ${CMAKE_CURRENT_SOURCE_DIR}/transport_test.cpp)
target_include_directories(runbase_transport_tests PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(runbase_transport_tests PRIVATE runbase_objects runbase_hostile_support
                                                      runbase_httplib ZLIB::ZLIB GTest::gtest_main
                                                      runbase_warnings)
# Its own label, which the tsan test preset selects (`-L integration` still matches it).
gtest_discover_tests(runbase_transport_tests PROPERTIES LABELS integration-transport
                     DISCOVERY_TIMEOUT 30)
