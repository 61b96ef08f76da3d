# cpp-httplib for the emulator and the test servers. Debian ships it as a compiled library with a
# pkg-config file that carries the feature macros (OpenSSL, zlib, brotli) the library was built
# with; the headers must be compiled with the same macros, so take them from pkg-config.
if(NOT TARGET runbase_httplib)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(CPP_HTTPLIB REQUIRED IMPORTED_TARGET GLOBAL cpp-httplib)
  find_package(OpenSSL REQUIRED)
  add_library(runbase_httplib INTERFACE)
  target_link_libraries(runbase_httplib INTERFACE PkgConfig::CPP_HTTPLIB OpenSSL::SSL OpenSSL::Crypto
                                                  Threads::Threads)
endif()
