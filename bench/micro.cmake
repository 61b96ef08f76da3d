# The SDK's own benchmarks (docs/PERFORMANCE.md: "CPU per request", "Loopback throughput",
# "Header cost"). Included from bench/CMakeLists.txt, which RUNBASE_BUILD_BENCHMARKS enables.
#   runbase_bench_sdk_cpu   Google Benchmark: CPU per request inside the SDK, no network
#   runbase_bench_loopback  get_run round trips per second on one keep-alive loopback connection
#                           against a cpp-httplib server, the SDK vs a plain libcurl loop
# Both link the SDK's object files directly (like the unit tests) to reach runbase::detail.
find_package(benchmark REQUIRED)
find_package(CURL REQUIRED)
include(${PROJECT_SOURCE_DIR}/cmake/find_httplib.cmake)

add_executable(runbase_bench_sdk_cpu ${CMAKE_CURRENT_LIST_DIR}/sdk_cpu.cpp)
target_include_directories(runbase_bench_sdk_cpu PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(runbase_bench_sdk_cpu PRIVATE runbase_objects benchmark::benchmark)

add_executable(runbase_bench_loopback ${CMAKE_CURRENT_LIST_DIR}/loopback.cpp)
target_include_directories(runbase_bench_loopback PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(runbase_bench_loopback PRIVATE runbase_objects runbase_httplib CURL::libcurl)
