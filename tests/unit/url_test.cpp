// URLs: a run id is always exactly one path segment, the base URL is checked and normalised, and
// only loopback hosts may be reached over plain http.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "runbase/runbase.hpp"
#include "unit/support/test_client.hpp"
#include "url.hpp"

namespace runbase {
namespace {

using detail::checked_base_url;
using detail::is_http_url;
using detail::is_loopback_host;
using detail::last_path_segment;
using detail::path_of;
using detail::percent_encode_segment;

TEST(UrlTest, PercentEncodesEverythingButUnreserved) {
  EXPECT_EQ(percent_encode_segment("a/b?c#d"), "a%2Fb%3Fc%23d");
  EXPECT_EQ(percent_encode_segment("run_AZaz09-._~"), "run_AZaz09-._~");
  EXPECT_EQ(percent_encode_segment("a b%c+d&e=f;g:h@i"), "a%20b%25c%2Bd%26e%3Df%3Bg%3Ah%40i");
  EXPECT_EQ(percent_encode_segment("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(percent_encode_segment(std::string("a\0b", 3)), "a%00b");
  EXPECT_EQ(percent_encode_segment("\r\n"), "%0D%0A");
}

// Whatever the id, the request goes to <base>/runs/<one segment>: the path cannot be changed, not
// even by the dot segments "." and "..", which URL parsers (libcurl included) resolve away.
TEST(UrlTest, RunIdNeverChangesThePath) {
  for (const char* id :
       {"a/b?c#d", "../admin", "..", ".", "%2e%2e", "run_1/../../x", "?", "#", "/"}) {
    SCOPED_TRACE(id);
    test::Harness h;
    Client client = h.client();
    h.transport->reply(200, test::run_json("run_1", "pending"));
    client.get_run(id);
    const std::string url = h.transport->last().request.url;
    const std::string path = path_of(url);  // as libcurl will send it
    if (path.rfind("/api/v1/runs/", 0) != 0) {
      ADD_FAILURE() << "the request went to " << path << " (URL " << url << ")";
      continue;
    }
    const std::string segment = path.substr(std::string("/api/v1/runs/").size());
    EXPECT_FALSE(segment.empty());
    EXPECT_EQ(segment.find('/'), std::string::npos) << path;
    EXPECT_EQ(url.find('?'), std::string::npos);
    EXPECT_EQ(url.find('#'), std::string::npos);
  }
}

TEST(UrlTest, IsHttpUrl) {
  EXPECT_TRUE(is_http_url("https://runbase.net/api/v1"));
  EXPECT_TRUE(is_http_url("http://127.0.0.1:8080"));
  EXPECT_TRUE(is_http_url("HTTPS://cdn.test/x.png?sig=1"));
  EXPECT_FALSE(is_http_url("ftp://runbase.net"));
  EXPECT_FALSE(is_http_url("file:///etc/passwd"));
  EXPECT_FALSE(is_http_url("runbase.net/api"));
  EXPECT_FALSE(is_http_url("https://"));
  EXPECT_FALSE(is_http_url(""));
  EXPECT_FALSE(is_http_url(std::string("https://a.test/\0x", 17)));
}

TEST(UrlTest, LoopbackHosts) {
  for (const char* host : {"localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
  }
  for (const char* host : {"", "example.com", "10.0.0.1", "128.0.0.1", "127.0.0.1.example.com",
                           "localhost.example.com", "127.0.0", "0.0.0.0", "::2"}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
}

TEST(UrlTest, CheckedBaseUrl) {
  EXPECT_EQ(checked_base_url("https://runbase.net/api/v1"), "https://runbase.net/api/v1");
  EXPECT_EQ(checked_base_url("https://runbase.net/api/v1/"), "https://runbase.net/api/v1");
  EXPECT_EQ(checked_base_url("https://runbase.net/api/v1///"), "https://runbase.net/api/v1");
  EXPECT_EQ(checked_base_url("http://127.0.0.1:8080/api/v1"), "http://127.0.0.1:8080/api/v1");
  EXPECT_EQ(checked_base_url("http://localhost:9/"), "http://localhost:9");
  EXPECT_THROW(checked_base_url("http://runbase.net/api/v1"), ValidationError);
  EXPECT_THROW(checked_base_url("ftp://runbase.net/api/v1"), ValidationError);
  EXPECT_THROW(checked_base_url("runbase.net/api/v1"), ValidationError);
  EXPECT_THROW(checked_base_url(""), ValidationError);
}

TEST(UrlTest, PathOfAndLastSegment) {
  EXPECT_EQ(path_of("https://runbase.net/api/v1/runs/run_1"), "/api/v1/runs/run_1");
  EXPECT_EQ(path_of("https://runbase.net"), "/");
  EXPECT_EQ(last_path_segment("https://cdn.test/a/b/c.png?sig=1#frag"), "c.png");
  EXPECT_EQ(last_path_segment("https://cdn.test/"), "");
}

}  // namespace
}  // namespace runbase
