// Each model's validate() refuses what the service would refuse, naming the field, before
// anything is sent; the enums read and print as the service spells them; ModelInput carries any
// model's input as it is sent.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
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

// --- GPT Image 1.5 and 2, ModelInput ------------------------------------------------------

TEST(ModelsTest, TiersAndRatiosReadAndPrint) {
  EXPECT_EQ(to_string(Quality::Medium), "medium");
  EXPECT_EQ(to_string(Quality::High), "high");
  EXPECT_EQ(to_string(Resolution::OneK), "1K");
  EXPECT_EQ(to_string(Resolution::TwoK), "2K");
  EXPECT_EQ(to_string(Resolution::FourK), "4K");
  for (Quality quality : {Quality::Medium, Quality::High}) {
    EXPECT_EQ(parse_quality(to_string(quality)), quality);
  }
  for (Resolution resolution : {Resolution::OneK, Resolution::TwoK, Resolution::FourK}) {
    EXPECT_EQ(parse_resolution(to_string(resolution)), resolution);
  }
  const std::vector<std::string> ratios{"1:1", "2:3", "3:2",  "3:4",  "4:3",
                                        "4:5", "5:4", "9:16", "16:9", "21:9"};
  for (const std::string& ratio : ratios) {
    const auto parsed = parse_gpt_image2_aspect_ratio(ratio);
    ASSERT_TRUE(parsed) << ratio;
    EXPECT_EQ(to_string(*parsed), ratio);
  }
  EXPECT_EQ(to_string(GptImage2AspectRatio::Landscape21x9), "21:9");
  for (const char* text : {"", "low", "High", "1k", "8K", "auto", "1:4", " 1:1"}) {
    EXPECT_EQ(parse_quality(text), std::nullopt) << text;
    EXPECT_EQ(parse_resolution(text), std::nullopt) << text;
    EXPECT_EQ(parse_gpt_image2_aspect_ratio(text), std::nullopt) << text;
  }
}

TEST(ModelsTest, GptImage15AndGptImage2RefuseWhatTheServiceWould) {
  EXPECT_NO_THROW((GptImage15Input{"x", AspectRatio::Portrait, Quality::High, {}}).validate());
  EXPECT_NO_THROW(
      (GptImage2Input{"x", GptImage2AspectRatio::Portrait9x16, Resolution::FourK, {}}).validate());
  const std::vector<std::string> four(4, "https://img.test/ref.png");
  EXPECT_NO_THROW((GptImage15Input{"x", std::nullopt, std::nullopt, four}).validate());
  EXPECT_NO_THROW((GptImage2Input{"x", std::nullopt, std::nullopt, four}).validate());

  struct Row {
    std::function<void()> validate;
    std::string message;
  };
  std::vector<std::string> five = four;
  five.push_back("https://img.test/5.png");
  const std::string long_prompt = repeat("\u00e9", 32001);  // 32001 code points
  const std::vector<Row> rows{
      {[] {
         GptImage15Input{"", std::nullopt, std::nullopt, {}}.validate();
       },
       "prompt is empty: describe the image in 1 to 32000 characters."},
      {[&] {
         GptImage2Input{long_prompt, std::nullopt, std::nullopt, {}}.validate();
       },
       "prompt is 32001 characters long; openai/gpt-image-2 accepts at most 32000. Shorten it."},
      {[&] {
         GptImage15Input{"x", std::nullopt, std::nullopt, five}.validate();
       },
       "image_urls has 5 entries; openai/gpt-image-1.5 accepts at most 4 reference images."},
      {[] {
         GptImage2Input{"x", std::nullopt, std::nullopt, {"ftp://img.test/a.png"}}.validate();
       },
       "image_urls[0] is not an http(s) URL: \"ftp://img.test/a.png\". Pass a public http:// or "
       "https:// address of the image."},
      {[] {
         GptImage15Input{"x", std::nullopt, static_cast<Quality>(7), {}}.validate();
       },
       "quality is not one of Quality's values (medium, high)."},
      {[] {
         GptImage2Input{"x", std::nullopt, static_cast<Resolution>(7), {}}.validate();
       },
       "resolution is not one of Resolution's values (1K, 2K, 4K)."},
      {[] {
         GptImage2Input{"x", static_cast<GptImage2AspectRatio>(99), std::nullopt, {}}.validate();
       },
       "aspect_ratio is not one of GptImage2AspectRatio's values (1:1, 2:3, 3:2, 3:4, 4:3, 4:5, "
       "5:4, 9:16, 16:9, 21:9)."},
      {[] { ModelInput("", R"({"prompt":"x"})").validate(); },
       "model is empty: pass a model id such as \"openai/gpt-image-1\"."},
      {[] { ModelInput("openai/gpt-image-2", "[1]").validate(); },
       "input_json must be a JSON object such as {\"prompt\": \"...\"}; got: [1]"},
  };
  for (const Row& row : rows) {
    const auto error = expect_throws<ValidationError>(row.validate);
    ASSERT_TRUE(error) << row.message;
    EXPECT_STREQ(error->what(), row.message.c_str());
  }
}

TEST(ModelsTest, ModelInputCarriesEachModelAsItIsSent) {
  const ModelInput v1 = GptImage1Input{"a fox", AspectRatio::Landscape, {}};
  EXPECT_EQ(v1.model(), "openai/gpt-image-1");
  EXPECT_EQ(v1.input_json(), R"({"aspect_ratio":"3:2","prompt":"a fox"})");
  const ModelInput v15 =
      GptImage15Input{"a fox", std::nullopt, Quality::High, {"https://a.test/r.png"}};
  EXPECT_EQ(v15.model(), "openai/gpt-image-1.5");
  EXPECT_EQ(v15.input_json(),
            R"({"image_urls":["https://a.test/r.png"],"prompt":"a fox","quality":"high"})");
  const ModelInput v2 =
      GptImage2Input{"a fox", GptImage2AspectRatio::Landscape16x9, Resolution::FourK, {}};
  EXPECT_EQ(v2.model(), "openai/gpt-image-2");
  EXPECT_EQ(v2.input_json(), R"({"aspect_ratio":"16:9","prompt":"a fox","resolution":"4K"})");
  const ModelInput unset = GptImage2Input{"a fox", std::nullopt, std::nullopt, {}};
  EXPECT_EQ(unset.input_json(), R"({"prompt":"a fox"})");  // unset fields are omitted
  const ModelInput raw("google/nano-banana-2", R"({"prompt": "a fox", "resolution": "2K"})");
  EXPECT_EQ(raw.model(), "google/nano-banana-2");
  EXPECT_EQ(raw.input_json(), R"({"prompt": "a fox", "resolution": "2K"})");  // as given
  // input_json() validates: nothing unsendable comes out of it.
  EXPECT_THROW((ModelInput(GptImage15Input{"", std::nullopt, std::nullopt, {}}).input_json()),
               ValidationError);
}

TEST(ModelsTest, NewModelIdsAndLimits) {
  EXPECT_EQ(GptImage15Input::model_id, "openai/gpt-image-1.5");
  EXPECT_EQ(GptImage15Input::max_image_urls, 4u);
  EXPECT_EQ(GptImage2Input::model_id, "openai/gpt-image-2");
  EXPECT_EQ(GptImage2Input::max_image_urls, 4u);
  EXPECT_EQ(GptImage2Input::max_prompt_length, 32000u);
}

}  // namespace
}  // namespace runbase
