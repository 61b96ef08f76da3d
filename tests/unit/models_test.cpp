// GptImage1Input::validate() refuses what the service would refuse, naming the field, before
// anything is sent; the enums read and print as the service spells them.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runbase/runbase.hpp"
#include "unit/support/test_client.hpp"

namespace runbase {
namespace {

using test::expect_throws;
using ::testing::HasSubstr;

GptImage1Input with_prompt(std::string prompt) {
  return GptImage1Input{std::move(prompt), std::nullopt, {}};
}

std::string repeat(const std::string& unit, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) out += unit;
  return out;
}

void expect_invalid(const GptImage1Input& input, const std::string& field) {
  const auto error = expect_throws<ValidationError>([&] { input.validate(); });
  ASSERT_TRUE(error);
  EXPECT_THAT(error->what(), HasSubstr(field));
  EXPECT_FALSE(error->outcome_unknown());
}

TEST(ModelsTest, AValidInputPasses) {
  EXPECT_NO_THROW(with_prompt("a red fox").validate());
  EXPECT_NO_THROW(
      (GptImage1Input{
           "x", AspectRatio::Landscape, {"https://img.test/1.png", "http://img.test/2.png"}})
          .validate());
}

TEST(ModelsTest, ImageUrlThatIsNotUtf8IsRefusedNamingIt) {
  // Found by fuzz_run_json: libcurl's URL parser accepts such bytes, JSON cannot carry them.
  GptImage1Input input = with_prompt("a fox");
  input.image_urls = {"https://img.test/ok.png", "https://img.test/\xff.png"};
  expect_invalid(input, "image_urls[1]");
}

TEST(ModelsTest, EmptyPromptIsRefused) { expect_invalid(with_prompt(""), "prompt"); }

TEST(ModelsTest, PromptLengthIsCountedInCodePoints) {
  EXPECT_NO_THROW(with_prompt(repeat("a", 4000)).validate());
  expect_invalid(with_prompt(repeat("a", 4001)), "prompt");
  // Multibyte characters count as one: 4000 of them pass although they are 8000-16000 bytes.
  for (const std::string& character :
       {std::string("\xc3\xa9"), std::string("\xe6\x97\xa5"), std::string("\xf0\x9f\xa6\x8a")}) {
    SCOPED_TRACE(character.size());
    EXPECT_NO_THROW(with_prompt(repeat(character, 4000)).validate());
    expect_invalid(with_prompt(repeat(character, 4001)), "prompt");
  }
  EXPECT_NO_THROW(with_prompt(repeat("a", 3999) + "\xf0\x9f\xa6\x8a").validate());
  EXPECT_NO_THROW(with_prompt("x").validate());
}

TEST(ModelsTest, TooLongPromptMessageSaysHowLong) {
  const auto error =
      expect_throws<ValidationError>([] { with_prompt(repeat("a", 4001)).validate(); });
  ASSERT_TRUE(error);
  EXPECT_THAT(error->what(), HasSubstr("4001"));
  EXPECT_THAT(error->what(), HasSubstr("4000"));
}

TEST(ModelsTest, InvalidUtf8IsRefused) {
  for (const std::string& prompt :
       {std::string("bad \xff byte"), std::string("cut \xc3"), std::string("\xe6\x97 cut"),
        std::string("overlong \xc0\xaf"), std::string("surrogate \xed\xa0\x80"),
        std::string("too big \xf4\x90\x80\x80"), std::string("lone \x80 continuation")}) {
    SCOPED_TRACE(prompt);
    expect_invalid(with_prompt(prompt), "prompt");
  }
}

TEST(ModelsTest, AtMostFiveImageUrls) {
  GptImage1Input input = with_prompt("x");
  input.image_urls.assign(5, "https://img.test/a.png");
  EXPECT_NO_THROW(input.validate());
  input.image_urls.assign(6, "https://img.test/a.png");
  expect_invalid(input, "image_urls");
}

TEST(ModelsTest, ImageUrlsMustBeHttp) {
  for (const char* url : {"ftp://img.test/a.png", "file:///tmp/a.png", "img.test/a.png",
                          "not a url", "", "data:image/png;base64,AAAA", "https://"}) {
    SCOPED_TRACE(url);
    GptImage1Input input = with_prompt("x");
    input.image_urls = {"https://img.test/ok.png", url};
    expect_invalid(input, "image_urls");
    const auto error = expect_throws<ValidationError>([&] { input.validate(); });
    ASSERT_TRUE(error);
    EXPECT_THAT(error->what(), HasSubstr("image_urls[1]"));  // which one
  }
}

TEST(ModelsTest, AspectRatioReadsAndPrints) {
  EXPECT_EQ(to_string(AspectRatio::Square), "1:1");
  EXPECT_EQ(to_string(AspectRatio::Landscape), "3:2");
  EXPECT_EQ(to_string(AspectRatio::Portrait), "2:3");
  EXPECT_EQ(parse_aspect_ratio("1:1"), AspectRatio::Square);
  EXPECT_EQ(parse_aspect_ratio("3:2"), AspectRatio::Landscape);
  EXPECT_EQ(parse_aspect_ratio("2:3"), AspectRatio::Portrait);
  for (const char* text : {"", "16:9", "1:1 ", " 1:1", "1/1", "square", "3:2x"}) {
    EXPECT_EQ(parse_aspect_ratio(text), std::nullopt) << text;
  }
}

TEST(ModelsTest, RunStatusReadsAndPrints) {
  EXPECT_EQ(to_string(RunStatus::Pending), "pending");
  EXPECT_EQ(to_string(RunStatus::Processing), "processing");
  EXPECT_EQ(to_string(RunStatus::Succeeded), "succeeded");
  EXPECT_EQ(to_string(RunStatus::Failed), "failed");
  EXPECT_EQ(to_string(RunStatus::Unknown), "unknown");
  for (RunStatus status :
       {RunStatus::Pending, RunStatus::Processing, RunStatus::Succeeded, RunStatus::Failed}) {
    EXPECT_EQ(parse_run_status(to_string(status)), status);
  }
  EXPECT_EQ(parse_run_status("cancelled"), RunStatus::Unknown);
  EXPECT_EQ(parse_run_status(""), RunStatus::Unknown);
}

TEST(ModelsTest, OnlySucceededAndFailedAreTerminal) {
  runbase::Run run;
  EXPECT_FALSE(run.is_terminal());  // Unknown by default
  run.status = RunStatus::Pending;
  EXPECT_FALSE(run.is_terminal());
  run.status = RunStatus::Processing;
  EXPECT_FALSE(run.is_terminal());
  run.status = RunStatus::Succeeded;
  EXPECT_TRUE(run.is_terminal());
  run.status = RunStatus::Failed;
  EXPECT_TRUE(run.is_terminal());
  EXPECT_EQ(run.cost_usd_micros, 0);
}

TEST(ModelsTest, ModelIdAndLimits) {
  EXPECT_EQ(GptImage1Input::model_id, "openai/gpt-image-1");
  EXPECT_EQ(GptImage1Input::max_prompt_length, 4000u);
  EXPECT_EQ(GptImage1Input::max_image_urls, 5u);
}

}  // namespace
}  // namespace runbase
