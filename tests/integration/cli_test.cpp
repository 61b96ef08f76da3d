// The runbase command-line program, run as a user runs it: the built binary, as a child process,
// against a real runbase-emulator on loopback. Every subcommand, --json, and each documented exit
// code (docs/CLI.md). A few in-process tests cover the classification table itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <runbase/runbase.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_process.hpp"
#include "exit_codes.hpp"
#include "status_line.hpp"
#include "support/emulator_process.hpp"
#include "support/hostile_server.hpp"

#ifndef RUNBASE_CLI_PATH
#error "RUNBASE_CLI_PATH must name the runbase binary"
#endif

namespace runbase::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using Env = std::vector<std::pair<std::string, std::string>>;
using test_support::LoopbackServer;

const std::string kKey = "sk-cli-test-key-0123456789";
const std::string kLamp = "A cinematic product photo of a ceramic lamp";

// A quick emulator that accepts only kKey (so a wrong key is a 401).
std::vector<std::string> emulator_args(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--latency-ms", "150", "--api-key", kKey};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

Env env_for(const EmulatorProcess& emulator, const std::string& key = kKey) {
  return {{"RUNBASE_BASE_URL", emulator.base_url()}, {"RUNBASE_API_KEY", key}};
}

// Runs the CLI with `watch` looking at its stderr as it grows (see ProcessOptions::on_stderr).
ProcessResult runbase_cli_watched(std::vector<std::string> args, Env env,
                                  std::function<int(const std::string& err)> watch,
                                  std::string cwd = {}) {
  ProcessOptions options;
  options.args.push_back(RUNBASE_CLI_PATH);
  options.args.insert(options.args.end(), args.begin(), args.end());
  options.env = std::move(env);
  options.cwd = std::move(cwd);
  options.on_stderr = std::move(watch);
  return run_process(options);
}

// `interrupt_when`: SIGINT once the CLI's stderr shows this text (once).
ProcessResult runbase_cli(std::vector<std::string> args, Env env, std::string cwd = {},
                          std::string interrupt_when = {}) {
  std::function<int(const std::string&)> watch;
  if (!interrupt_when.empty()) {
    watch = [interrupt_when, sent = false](const std::string& err) mutable {
      if (sent || err.find(interrupt_when) == std::string::npos) return 0;
      sent = true;
      return SIGINT;
    };
  }
  return runbase_cli_watched(std::move(args), std::move(env), std::move(watch), std::move(cwd));
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) result.push_back(line);
  }
  return result;
}

// The one --json object a command printed; fails the test if there is not exactly one.
json only_object(const ProcessResult& result) {
  const auto printed = lines(result.out);
  EXPECT_EQ(printed.size(), 1u) << "stdout: " << result.out << "\nstderr: " << result.err;
  if (printed.size() != 1) return json::object();
  return json::parse(printed[0]);
}

json stats(const EmulatorProcess& emulator) { return json::parse(emulator.stats_json()); }

std::string describe(const ProcessResult& result) {
  return "exit " + std::to_string(result.exit_code) + "\nstdout: " + result.out +
         "\nstderr: " + result.err;
}

// ---- generate --------------------------------------------------------------------------------

TEST(CliGenerateTest, SavesThePngAndPrintsItsPath) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string out = dir.path() + "/out";
  const ProcessResult result = runbase_cli({"generate", kLamp, "--out", out}, env_for(emulator));
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  const auto printed = lines(result.out);
  ASSERT_EQ(printed.size(), 1u) << describe(result);
  EXPECT_EQ(fs::path(printed[0]).parent_path(), fs::path(out));
  EXPECT_TRUE(is_png_file(printed[0])) << printed[0];
  // Not a terminal: plain progress lines on stderr, the last one the final status.
  EXPECT_NE(result.err.find(": pending"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(": succeeded"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find('\r'), std::string::npos) << "no live line when not a terminal";
}

TEST(CliGenerateTest, DefaultOutIsTheCurrentDirectory) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const ProcessResult result = runbase_cli({"generate", kLamp}, env_for(emulator), dir.path());
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  const auto printed = lines(result.out);
  ASSERT_EQ(printed.size(), 1u);
  EXPECT_TRUE(is_png_file(dir.path() + "/" + printed[0])) << printed[0];
}

TEST(CliGenerateTest, JsonPrintsTheRunWithItsFiles) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const ProcessResult result = runbase_cli(
      {"generate", kLamp, "--aspect-ratio", "3:2", "--image-url", "https://example.com/a.png",
       "--image-url", "https://example.com/b.png", "--out", dir.path(), "--json"},
      env_for(emulator));
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  const json run = only_object(result);
  EXPECT_EQ(run["status"], "succeeded");
  EXPECT_EQ(run["model"], "openai/gpt-image-1");
  EXPECT_EQ(run["costUsd"], 50000);
  EXPECT_EQ(run["id"].get<std::string>().rfind("run_", 0), 0u);
  ASSERT_EQ(run["output"]["urls"].size(), 1u);
  ASSERT_EQ(run["files"].size(), 1u);
  EXPECT_TRUE(is_png_file(run["files"][0].get<std::string>()));
  EXPECT_FALSE(run["createdAt"].is_null());
  EXPECT_FALSE(run.contains("error"));
}

TEST(CliGenerateTest, NoWaitPrintsTheIdThenGetAndWaitFinishTheJob) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const ProcessResult created = runbase_cli({"generate", kLamp, "--no-wait"}, env_for(emulator));
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  const auto printed = lines(created.out);
  ASSERT_EQ(printed.size(), 1u);
  const std::string id = printed[0];
  EXPECT_EQ(id.rfind("run_", 0), 0u);
  EXPECT_NE(created.err.find("runbase wait " + id), std::string::npos) << created.err;

  const ProcessResult got = runbase_cli({"get", id, "--json"}, env_for(emulator));
  ASSERT_EQ(got.exit_code, 0) << describe(got);
  const json run = only_object(got);
  EXPECT_EQ(run["id"], id);
  EXPECT_TRUE(run["status"] == "pending" || run["status"] == "processing" ||
              run["status"] == "succeeded")
      << run;

  const ProcessResult waited =
      runbase_cli({"wait", id, "--out", dir.path(), "--json"}, env_for(emulator));
  ASSERT_EQ(waited.exit_code, 0) << describe(waited);
  const json done = only_object(waited);
  EXPECT_EQ(done["status"], "succeeded");
  ASSERT_EQ(done["files"].size(), 1u);
  EXPECT_TRUE(is_png_file(done["files"][0].get<std::string>()));

  // Plain `get`: one field per line, for people.
  const ProcessResult shown = runbase_cli({"get", id}, env_for(emulator));
  ASSERT_EQ(shown.exit_code, 0) << describe(shown);
  EXPECT_NE(shown.out.find("id:        " + id), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("status:    succeeded"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("cost:      $0.05"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("output:    http"), std::string::npos) << shown.out;
  EXPECT_EQ(stats(emulator)["runs_created"], 1);
}

TEST(CliGenerateTest, NoWaitJsonPrintsThePendingRun) {
  EmulatorProcess emulator(emulator_args());
  const ProcessResult result =
      runbase_cli({"generate", kLamp, "--no-wait", "--json"}, env_for(emulator));
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  const json run = only_object(result);
  EXPECT_EQ(run["status"], "pending");
  EXPECT_FALSE(run.contains("files"));
}

TEST(CliGlobalTest, FlagsWorkBeforeAndAfterTheSubcommandAndBeatTheEnvironment) {
  EmulatorProcess emulator(emulator_args());
  // The environment holds a wrong key and no URL; the flags must win.
  const Env wrong = {{"RUNBASE_API_KEY", "sk-wrong"}};
  const ProcessResult before = runbase_cli(
      {"--base-url", emulator.base_url(), "--api-key", kKey, "get", "run_missing"}, wrong);
  EXPECT_EQ(before.exit_code, 6) << describe(before);
  const ProcessResult after = runbase_cli(
      {"get", "run_missing", "--base-url", emulator.base_url(), "--api-key", kKey}, wrong);
  EXPECT_EQ(after.exit_code, 6) << describe(after);
}

TEST(CliGlobalTest, VerboseShowsTheHttpExchangeWithTheKeyRedacted) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const ProcessResult result =
      runbase_cli({"--verbose", "generate", kLamp, "--out", dir.path()}, env_for(emulator));
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  // One debug line per exchange (the SDK words them; only their gist is checked here).
  EXPECT_NE(result.err.find("debug: HTTP POST "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("/runs -> 200"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("debug: HTTP GET "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("/runs/run_"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("Authorization: <redacted>"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find(kKey), std::string::npos) << "the key leaked into stderr";
  EXPECT_EQ(result.out.find(kKey), std::string::npos) << "the key leaked into stdout";
}

TEST(CliGlobalTest, HelpAndVersionExitZero) {
  const ProcessResult version = runbase_cli({"--version"}, {});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, "runbase " + std::string(runbase::version()) + "\n");
  const ProcessResult help = runbase_cli({"--help"}, {});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* command : {"generate", "get", "wait", "download", "batch"}) {
    EXPECT_NE(help.out.find(command), std::string::npos) << help.out;
  }
  const ProcessResult generate_help = runbase_cli({"generate", "--help"}, {});
  EXPECT_EQ(generate_help.exit_code, 0);
  EXPECT_NE(generate_help.out.find("--aspect-ratio"), std::string::npos);
}

// ---- download ---------------------------------------------------------------------------------

TEST(CliDownloadTest, NeedsNoKeyAndSavesEachUrl) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const ProcessResult created =
      runbase_cli({"generate", kLamp, "--json", "--out", dir.path() + "/gen"}, env_for(emulator));
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  const std::string url = only_object(created)["output"]["urls"][0];

  // No RUNBASE_* variable at all: downloads never need (or send) the key.
  const std::string out = dir.path() + "/downloads";
  const ProcessResult plain = runbase_cli({"download", url, url, "--out", out}, {});
  ASSERT_EQ(plain.exit_code, 0) << describe(plain);
  const auto printed = lines(plain.out);
  ASSERT_EQ(printed.size(), 2u) << plain.out;
  EXPECT_NE(printed[0], printed[1]) << "the same name twice must not overwrite";
  for (const auto& file : printed) EXPECT_TRUE(is_png_file(file)) << file;

  const ProcessResult as_json = runbase_cli({"download", url, "--out", out, "--json"}, {});
  ASSERT_EQ(as_json.exit_code, 0) << describe(as_json);
  const json saved = only_object(as_json);
  EXPECT_EQ(saved["url"], url);
  EXPECT_TRUE(is_png_file(saved["file"].get<std::string>()));
}

TEST(CliDownloadTest, AMissingFileIsNotFoundAndTheOthersAreStillSaved) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const ProcessResult created =
      runbase_cli({"generate", kLamp, "--json", "--out", dir.path()}, env_for(emulator));
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  const std::string good = only_object(created)["output"]["urls"][0];
  const std::string missing = emulator.root_url() + "/files/generated/run_missing.png";

  const ProcessResult result =
      runbase_cli({"download", missing, good, "--out", dir.path() + "/d", "--json"}, {});
  EXPECT_EQ(result.exit_code, 6) << describe(result);
  const auto printed = lines(result.out);
  ASSERT_EQ(printed.size(), 2u) << result.out;
  const json failed = json::parse(printed[0]);
  EXPECT_EQ(failed["url"], missing);
  EXPECT_EQ(failed["error"]["kind"], "not_found");
  EXPECT_EQ(failed["exitCode"], 6);
  EXPECT_TRUE(is_png_file(json::parse(printed[1])["file"].get<std::string>()));
  EXPECT_NE(result.err.find("error: " + missing), std::string::npos) << result.err;
}

// ---- batch ------------------------------------------------------------------------------------

std::string write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(CliBatchTest, SavesEachLineAndTheJsonNamesTheLine) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string file = write_file(
      dir, "prompts.txt",
      "A red fox\n\n{\"prompt\": \"A blue lamp\", \"aspect_ratio\": \"3:2\", "
      "\"image_urls\": [\"https://example.com/a.png\"]}\nA lamp [fail]\r\nA green vase\n");
  const ProcessResult result =
      runbase_cli({"batch", file, "--out", dir.path() + "/out", "--json"}, env_for(emulator));
  EXPECT_EQ(result.exit_code, 9) << describe(result);  // the failure of line 4
  const auto printed = lines(result.out);
  ASSERT_EQ(printed.size(), 4u) << result.out;
  const std::vector<int> expected_lines = {1, 3, 4, 5};
  for (std::size_t i = 0; i < printed.size(); ++i) {
    const json object = json::parse(printed[i]);
    EXPECT_EQ(object["line"], expected_lines[i]) << object;
    if (expected_lines[i] == 4) {
      EXPECT_EQ(object["status"], "failed");
      EXPECT_EQ(object["error"]["kind"], "run_failed");
    } else {
      EXPECT_EQ(object["status"], "succeeded") << object;
      ASSERT_EQ(object["files"].size(), 1u);
      EXPECT_TRUE(is_png_file(object["files"][0].get<std::string>()));
    }
  }
  EXPECT_NE(result.err.find("4/4 done, 1 failed"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("error: line 4: "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("batch: 3 of 4 saved"), std::string::npos) << result.err;
  EXPECT_EQ(stats(emulator)["requests"]["create"], 4);
}

// A file saved by a Windows editor: a UTF-8 byte order mark and CRLF line ends. The mark is not
// sent as part of the first prompt, and a JSON first line is still read as JSON.
TEST(CliBatchTest, AByteOrderMarkAndCrlfAreNotPartOfThePrompts) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string file =
      write_file(dir, "prompts.txt", "\xEF\xBB\xBF{\"prompt\": \"A blue lamp\"}\r\nA red fox\r\n");
  const ProcessResult result =
      runbase_cli({"batch", file, "--out", dir.path() + "/out", "--json"}, env_for(emulator));
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  const json counted = stats(emulator);
  std::vector<std::string> prompts;
  for (const json& run : counted["runs"]) prompts.push_back(run["prompt"]);
  std::sort(prompts.begin(), prompts.end());
  EXPECT_EQ(prompts, (std::vector<std::string>{"A blue lamp", "A red fox"}));
}

TEST(CliBatchTest, PlainOutputListsTheFilesAndStdinWorks) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string file = write_file(dir, "prompts.txt", "One\nTwo\n");
  // `-` reads the prompts from stdin: here, through a shell redirect.
  ProcessOptions options;
  options.args = {"/bin/sh", "-c",
                  std::string("exec \"") + RUNBASE_CLI_PATH +
                      "\" batch - --concurrency 1 --out \"" + dir.path() + "\" < \"" + file + "\""};
  options.env = env_for(emulator);
  const ProcessResult result = run_process(options);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  const auto printed = lines(result.out);
  ASSERT_EQ(printed.size(), 2u) << result.out;
  for (const auto& path : printed) EXPECT_TRUE(is_png_file(path)) << path;
}

TEST(CliBatchTest, RefusesABadLineBeforeSendingAnything) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string file = write_file(
      dir, "prompts.txt", "Fine\n{\"prompt\": \"x\", \"size\": 3}\n{\"prompt\": \"\"}\n{oops\n");
  const ProcessResult result = runbase_cli({"batch", file, "--json"}, env_for(emulator));
  EXPECT_EQ(result.exit_code, 3) << describe(result);
  const std::string message = only_object(result)["error"]["message"];
  EXPECT_NE(message.find("3 lines are invalid"), std::string::npos) << message;
  EXPECT_NE(message.find("line 2: unknown field \"size\""), std::string::npos) << message;
  EXPECT_NE(message.find("line 3: prompt is empty"), std::string::npos) << message;
  EXPECT_NE(message.find("line 4: not valid JSON"), std::string::npos) << message;
  EXPECT_EQ(stats(emulator)["requests"]["create"], 0);

  EXPECT_EQ(
      runbase_cli({"batch", write_file(dir, "empty.txt", "\n\n")}, env_for(emulator)).exit_code, 3);
  EXPECT_EQ(runbase_cli({"batch", dir.path() + "/missing.txt"}, env_for(emulator)).exit_code, 1);
}

TEST(CliBatchTest, InterruptedBatchResumesFromItsJournalWithoutPayingTwice) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string file = write_file(dir, "prompts.txt", "A lamp [never]\n");
  const std::string journal = dir.path() + "/batch.journal";
  const ProcessResult first = runbase_cli({"batch", file, "--journal", journal, "--json"},
                                          env_for(emulator), {}, ": pending");
  ASSERT_TRUE(first.interrupted) << describe(first);
  EXPECT_EQ(first.exit_code, 130) << describe(first);
  const json item = only_object(first);
  const std::string id = item["id"];
  EXPECT_EQ(item["error"]["kind"], "interrupted");
  EXPECT_EQ(item["line"], 1);
  EXPECT_NE(first.err.find("1 run left running (" + id + ")"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("--journal " + journal), std::string::npos) << first.err;

  // Again with the journal: the same run is waited on, not created again.
  const ProcessResult again = runbase_cli(
      {"batch", file, "--journal", journal, "--timeout", "0.5", "--json"}, env_for(emulator));
  EXPECT_EQ(again.exit_code, 10) << describe(again);
  EXPECT_EQ(only_object(again)["id"], id);
  EXPECT_EQ(stats(emulator)["requests"]["create"], 1);
}

// `runbase batch FILE --journal JOURNAL --json --out DIR [extra...]` against `emulator`.
ProcessResult journaled_batch(const EmulatorProcess& emulator, const TempDir& dir,
                              const std::string& file, const std::string& journal,
                              const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"batch",  file,    "--journal", journal,
                                   "--json", "--out", dir.path()};
  args.insert(args.end(), extra.begin(), extra.end());
  return runbase_cli(std::move(args), env_for(emulator));
}

std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
    ++count;
  }
  return count;
}

// The --json objects of a batch, by their "line".
std::map<int, json> by_line(const ProcessResult& result) {
  std::map<int, json> objects;
  for (const std::string& text : lines(result.out)) {
    const json object = json::parse(text);
    objects[object["line"].get<int>()] = object;
  }
  return objects;
}

TEST(CliJournalTest, ALineAddedAtTheTopFindsTheOtherRunsByTheirInput) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string journal = dir.path() + "/batch.journal";
  const std::string file = write_file(dir, "prompts.txt", "Two owls\nThree bees\n");
  const ProcessResult first = journaled_batch(emulator, dir, file, journal);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  auto before = by_line(first);

  write_file(dir, "prompts.txt", "One swan\nTwo owls\nThree bees\n");
  const ProcessResult again = journaled_batch(emulator, dir, file, journal);
  ASSERT_EQ(again.exit_code, 0) << describe(again);
  auto after = by_line(again);
  ASSERT_EQ(after.size(), 3u) << again.out;
  EXPECT_EQ(after[2]["id"], before[1]["id"]);
  EXPECT_EQ(after[3]["id"], before[2]["id"]);
  const json counted = stats(emulator);
  EXPECT_EQ(counted["runs_created"], 3);
  EXPECT_EQ(counted["requests"]["create"], 3);
}

TEST(CliJournalTest, RepeatedLinesAreToldApartByOccurrence) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string journal = dir.path() + "/batch.journal";
  const std::string file = write_file(dir, "prompts.txt", "Same cat\nOther dog\nSame cat\n");
  const ProcessResult first = journaled_batch(emulator, dir, file, journal);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  auto before = by_line(first);
  EXPECT_NE(before[1]["id"], before[3]["id"]);

  // One more of the same line, and the lines moved: only the third "Same cat" is new.
  write_file(dir, "prompts.txt", "Same cat\nSame cat\nSame cat\nOther dog\n");
  const ProcessResult again = journaled_batch(emulator, dir, file, journal);
  ASSERT_EQ(again.exit_code, 0) << describe(again);
  auto after = by_line(again);
  EXPECT_EQ(after[4]["id"], before[2]["id"]);
  std::set<std::string> cats = {after[1]["id"], after[2]["id"], after[3]["id"]};
  EXPECT_EQ(cats.size(), 3u);
  EXPECT_EQ(cats.count(before[1]["id"]), 1u);
  EXPECT_EQ(cats.count(before[3]["id"]), 1u);
  EXPECT_EQ(stats(emulator)["runs_created"], 4);
}

TEST(CliJournalTest, ASecondProcessOnTheSameJournalIsRefusedAndCreatesNothing) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string journal = dir.path() + "/batch.journal";
  std::string prompts;
  for (int i = 0; i < 10; ++i) prompts += "Lamp number " + std::to_string(i) + " [never]\n";
  const std::string file = write_file(dir, "prompts.txt", prompts);
  const std::vector<std::string> command = {"batch", file, "--journal", journal, "--json"};

  // The second process starts while the first holds the journal: once the first run is created.
  ProcessResult second;
  bool started_second = false;
  const ProcessResult first =
      runbase_cli_watched(command, env_for(emulator), [&](const std::string& err) {
        if (started_second || err.find(": pending") == std::string::npos) return 0;
        started_second = true;
        second = runbase_cli(command, env_for(emulator));
        return SIGINT;  // then the first stops too
      });
  ASSERT_TRUE(started_second) << describe(first);
  EXPECT_EQ(second.exit_code, 1) << describe(second);
  EXPECT_NE(second.err.find("The batch journal " + journal + " is in use"), std::string::npos)
      << second.err;
  EXPECT_NE(second.err.find("another process"), std::string::npos) << second.err;
  EXPECT_EQ(only_object(second)["error"]["kind"], "other");
  EXPECT_EQ(first.exit_code, 130) << describe(first);
  const auto created_by_first = stats(emulator)["runs_created"].get<int>();
  EXPECT_GE(created_by_first, 1);
  EXPECT_EQ(count_of(first.out, "\"id\":\"run_"), static_cast<std::size_t>(created_by_first))
      << first.out;

  // Once the first has let go, the journal is usable: the rest is created, nothing twice.
  const ProcessResult third = runbase_cli(
      {"batch", file, "--journal", journal, "--json", "--timeout", "0.3"}, env_for(emulator));
  EXPECT_EQ(third.exit_code, 10) << describe(third);
  EXPECT_EQ(lines(third.out).size(), 10u);
  const json counted = stats(emulator);
  EXPECT_EQ(counted["runs_created"], 10);
  EXPECT_EQ(counted["requests"]["create"], 10);
}

TEST(CliJournalTest, KilledMidBatchTheRerunReportsTheUnansweredCreateAndPaysForNothingTwice) {
  EmulatorProcess emulator({"--latency-ms", "1500", "--rate-limit", "0", "--api-key", kKey});
  TempDir dir;
  const std::string journal = dir.path() + "/batch.journal";
  const std::string file =
      write_file(dir, "prompts.txt", "Fox one\nFox two\nFox three\nFox four\nFox five\nFox six\n");
  // Three requests per 10 s: three creates go out at once; the fourth is on record in the
  // journal (its intent) and waits for the budget when the process is killed.
  const ProcessResult killed = runbase_cli_watched(
      {"batch", file, "--journal", journal, "--json", "--rate-limit", "3/10", "--concurrency", "4"},
      env_for(emulator),
      [](const std::string& err) { return count_of(err, ": pending") >= 3 ? SIGKILL : 0; });
  ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << describe(killed);
  EXPECT_EQ(stats(emulator)["runs_created"], 3);

  const ProcessResult rerun = journaled_batch(emulator, dir, file, journal);
  EXPECT_EQ(rerun.exit_code, 1) << describe(rerun);
  auto items = by_line(rerun);
  ASSERT_EQ(items.size(), 6u) << rerun.out;
  const json unknown = items[4]["error"];
  EXPECT_EQ(unknown["outcomeUnknown"], true) << unknown;
  const std::string message = unknown["message"];
  EXPECT_NE(message.find("a run may exist"), std::string::npos) << message;
  EXPECT_NE(message.find(journal), std::string::npos) << message;
  EXPECT_NE(message.find("--recreate-unknown"), std::string::npos) << message;
  for (int line : {1, 2, 3, 5, 6}) EXPECT_EQ(items[line]["status"], "succeeded") << line;
  // Lines 1-3 were resumed; 5 and 6 created; 4 was not sent again.
  EXPECT_EQ(stats(emulator)["runs_created"], 5);

  // The user checked: no run for line 4. Create it.
  const ProcessResult recreated =
      journaled_batch(emulator, dir, file, journal, {"--recreate-unknown"});
  EXPECT_EQ(recreated.exit_code, 0) << describe(recreated);
  const json counted = stats(emulator);
  EXPECT_EQ(counted["runs_created"], 6);
  EXPECT_EQ(counted["requests"]["create"], 6);
}

TEST(CliJournalTest, ADroppedCreateIsReportedOnRerunNotSentAgain) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string journal = dir.path() + "/batch.journal";
  const std::string file = write_file(dir, "prompts.txt", "A vase\nA lamp [drop]\n");
  const ProcessResult first = journaled_batch(emulator, dir, file, journal);
  EXPECT_EQ(first.exit_code, 8) << describe(first);
  EXPECT_EQ(stats(emulator)["requests"]["create"], 2);

  const ProcessResult again = journaled_batch(emulator, dir, file, journal);
  EXPECT_EQ(again.exit_code, 1) << describe(again);
  auto items = by_line(again);
  EXPECT_EQ(items[1]["status"], "succeeded");
  EXPECT_EQ(items[2]["error"]["outcomeUnknown"], true) << items[2];
  EXPECT_NE(again.err.find("--recreate-unknown"), std::string::npos) << again.err;
  EXPECT_EQ(stats(emulator)["requests"]["create"], 2);  // nothing sent again
  EXPECT_EQ(stats(emulator)["runs_created"], 1);
}

TEST(CliJournalTest, ATornLastRecordIsReportedAndNotTrusted) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string journal = dir.path() + "/batch.journal";
  const std::string file = write_file(dir, "prompts.txt", "A vase\nA cup\n");
  ASSERT_EQ(
      runbase_cli({"batch", file, "--journal", journal, "--out", dir.path()}, env_for(emulator))
          .exit_code,
      0);
  // The machine died while the last answer was being written: its line is cut short.
  std::string text;
  {
    std::ifstream in(journal, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_EQ(text.back(), '\n');
  text.resize(text.size() - 10);
  std::ofstream(journal, std::ios::binary | std::ios::trunc) << text;

  const ProcessResult again = journaled_batch(emulator, dir, file, journal);
  EXPECT_EQ(again.exit_code, 1) << describe(again);
  EXPECT_NE(again.err.find("warning: Batch journal " + journal + ", line 5: "), std::string::npos)
      << again.err;
  EXPECT_NE(again.err.find("not trusted"), std::string::npos) << again.err;
  // One line resumed, the other's answer was torn: reported, not created again.
  std::size_t unknown = 0;
  for (const auto& [line, object] : by_line(again)) {
    if (object.contains("error")) {
      EXPECT_EQ(object["error"]["outcomeUnknown"], true) << object;
      ++unknown;
    }
  }
  EXPECT_EQ(unknown, 1u) << again.out;
  EXPECT_EQ(stats(emulator)["runs_created"], 2);
}

// ---- models: --model, --quality, --resolution, mixed batches, --dry-run ----------------------

struct PngSize {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

// Width and height from the IHDR chunk, after checking the PNG signature.
PngSize read_png_size(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_GE(bytes.size(), 24u) << file;
  if (bytes.size() < 24) return {};
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(bytes.substr(12, 4), "IHDR");
  const auto be32 = [&](std::size_t at) {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
    }
    return value;
  };
  return {be32(16), be32(20)};
}

// The size of the one image a --json run object lists.
PngSize only_image_size(const json& run) {
  EXPECT_EQ(run["files"].size(), 1u) << run;
  if (run["files"].size() != 1) return {};
  return read_png_size(run["files"][0].get<std::string>());
}

TEST(CliModelTest, GenerateGptImage2At2KMakesARunOfThatModelPriceAndSize) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const ProcessResult result =
      runbase_cli({"generate", kLamp, "--model", "gpt-image-2", "--resolution", "2K",
                   "--aspect-ratio", "16:9", "--out", dir.path(), "--json"},
                  env_for(emulator));
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  const json run = only_object(result);
  EXPECT_EQ(run["model"], "openai/gpt-image-2") << run;
  EXPECT_EQ(run["costUsd"], 70000) << run;
  const PngSize size = only_image_size(run);
  EXPECT_EQ(size.width, 2048u);
  EXPECT_EQ(size.height, 1152u);
  EXPECT_EQ(stats(emulator)["runs"][0]["model"], "openai/gpt-image-2");
}

TEST(CliModelTest, GptImage15TakesItsQualityAndTheDefaultStaysGptImage1) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const ProcessResult high =
      runbase_cli({"generate", kLamp, "--model", "openai/gpt-image-1.5", "--quality", "high",
                   "--aspect-ratio", "2:3", "--out", dir.path(), "--json"},
                  env_for(emulator));
  ASSERT_EQ(high.exit_code, 0) << describe(high);
  const json run = only_object(high);
  EXPECT_EQ(run["model"], "openai/gpt-image-1.5");
  EXPECT_EQ(run["costUsd"], 160000);
  EXPECT_EQ(only_image_size(run).height, 1536u);

  const ProcessResult plain =
      runbase_cli({"generate", kLamp, "--out", dir.path(), "--json"}, env_for(emulator));
  ASSERT_EQ(plain.exit_code, 0) << describe(plain);
  EXPECT_EQ(only_object(plain)["model"], "openai/gpt-image-1");
  EXPECT_EQ(only_object(plain)["costUsd"], 50000);
}

// A model without a typed input: the prompt and the flags go as a JSON input, as given.
TEST(CliModelTest, AnyOtherModelIdSendsTheFlagsAsItsInput) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string quoted = "A \"quoted\" lamp \\ with a backslash";
  const ProcessResult result =
      runbase_cli({"generate", quoted, "--model", "google/nano-banana-2", "--aspect-ratio", "4:1",
                   "--resolution", "2K", "--out", dir.path(), "--json"},
                  env_for(emulator));
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  const json run = only_object(result);
  EXPECT_EQ(run["model"], "google/nano-banana-2");
  EXPECT_EQ(run["costUsd"], 40000);
  const PngSize size = only_image_size(run);
  EXPECT_EQ(size.width, 2048u);
  EXPECT_EQ(size.height, 512u);
  EXPECT_EQ(stats(emulator)["runs"][0]["prompt"], quoted);

  // The service checks such a model's values: a ratio it lacks is its 400, exit 3.
  const ProcessResult refused = runbase_cli(
      {"generate", kLamp, "--model", "google/nano-banana-2", "--aspect-ratio", "7:7", "--json"},
      env_for(emulator));
  EXPECT_EQ(refused.exit_code, 3) << describe(refused);
  EXPECT_EQ(only_object(refused)["error"]["httpStatus"], 400);
}

TEST(CliModelTest, AFlagTheModelDoesNotTakeIsAUsageErrorAndSendsNothing) {
  EmulatorProcess emulator(emulator_args());
  const ProcessResult quality =
      runbase_cli({"generate", kLamp, "--quality", "high", "--json"}, env_for(emulator));
  EXPECT_EQ(quality.exit_code, 2) << describe(quality);
  EXPECT_NE(quality.err.find("error: --quality is not an input of openai/gpt-image-1"),
            std::string::npos)
      << quality.err;
  EXPECT_NE(quality.err.find("openai/gpt-image-1.5"), std::string::npos) << quality.err;
  EXPECT_EQ(only_object(quality)["error"]["kind"], "usage");

  const ProcessResult resolution = runbase_cli(
      {"generate", kLamp, "--model", "gpt-image-1.5", "--resolution", "2K"}, env_for(emulator));
  EXPECT_EQ(resolution.exit_code, 2) << describe(resolution);
  EXPECT_NE(resolution.err.find("--resolution is not an input of openai/gpt-image-1.5"),
            std::string::npos)
      << resolution.err;
  EXPECT_NE(resolution.err.find("openai/gpt-image-2"), std::string::npos) << resolution.err;

  TempDir dir;
  const ProcessResult batch = runbase_cli(
      {"batch", write_file(dir, "p.txt", "A fox\n"), "--quality", "high"}, env_for(emulator));
  EXPECT_EQ(batch.exit_code, 2) << describe(batch);
  EXPECT_NE(batch.err.find("--quality is not an input"), std::string::npos) << batch.err;
  EXPECT_EQ(stats(emulator)["requests"]["create"], 0);
}

TEST(CliModelTest, AValueTheModelDoesNotTakeIsAValidationErrorNamingItsValues) {
  EmulatorProcess emulator(emulator_args());
  const auto refused = [&](std::vector<std::string> args, const std::string& expected) {
    args.insert(args.begin(), {"generate", kLamp});
    const ProcessResult result = runbase_cli(args, env_for(emulator));
    EXPECT_EQ(result.exit_code, 3) << describe(result);
    EXPECT_NE(result.err.find(expected), std::string::npos) << result.err;
  };
  refused({"--model", "gpt-image-1.5", "--quality", "ultra"},
          "--quality \"ultra\" is not one of openai/gpt-image-1.5's values: use medium or high");
  refused({"--model", "gpt-image-2", "--resolution", "8K"}, "use 1K, 2K or 4K");
  refused({"--model", "gpt-image-2", "--aspect-ratio", "auto"}, "16:9 or 21:9");
  // 16:9 is GPT Image 2's, not GPT Image 1's.
  refused({"--aspect-ratio", "16:9"}, "openai/gpt-image-1's values: use 1:1, 3:2 or 2:3");
  EXPECT_EQ(stats(emulator)["requests"]["create"], 0);
}

// Lines of three models (and a line of --model's) in one batch: each run is of its line's model,
// at its price.
TEST(CliModelTest, AMixedBatchRunsEachLineOnItsOwnModel) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string file =
      write_file(dir, "mixed.txt",
                 "A red fox\n"
                 "{\"model\": \"gpt-image-2\", \"prompt\": \"A blue lamp\", \"resolution\": "
                 "\"4K\", \"aspect_ratio\": \"9:16\"}\n"
                 "{\"model\": \"google/nano-banana-2\", \"prompt\": \"A green vase\", "
                 "\"aspect_ratio\": \"1:4\"}\n"
                 "{\"prompt\": \"A white cup\", \"quality\": \"high\"}\n");
  const ProcessResult result = runbase_cli({"batch", file, "--model", "gpt-image-1.5", "--quality",
                                            "medium", "--out", dir.path() + "/out", "--json"},
                                           env_for(emulator));
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  auto items = by_line(result);
  ASSERT_EQ(items.size(), 4u) << result.out;
  EXPECT_EQ(items[1]["model"], "openai/gpt-image-1.5");  // --model, --quality medium
  EXPECT_EQ(items[1]["costUsd"], 30000);
  EXPECT_EQ(items[2]["model"], "openai/gpt-image-2");
  EXPECT_EQ(items[2]["costUsd"], 120000);
  const PngSize tall = only_image_size(items[2]);
  EXPECT_EQ(tall.width, 2304u);
  EXPECT_EQ(tall.height, 4096u);
  EXPECT_EQ(items[3]["model"], "google/nano-banana-2");
  EXPECT_EQ(items[3]["costUsd"], 40000);
  EXPECT_EQ(items[4]["model"], "openai/gpt-image-1.5");  // its own quality beats the flag
  EXPECT_EQ(items[4]["costUsd"], 160000);
  EXPECT_EQ(stats(emulator)["requests"]["create"], 4);
}

TEST(CliModelTest, ABatchLineWithAFieldItsModelLacksRefusesTheBatch) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string file =
      write_file(dir, "bad.txt",
                 "A fox\n{\"prompt\": \"x\", \"quality\": \"high\"}\n"
                 "{\"model\": \"gpt-image-2\", \"prompt\": \"y\", \"aspect_ratio\": \"7:1\"}\n"
                 "{\"model\": 2, \"prompt\": \"z\"}\n");
  const ProcessResult result = runbase_cli({"batch", file, "--json"}, env_for(emulator));
  EXPECT_EQ(result.exit_code, 3) << describe(result);
  const std::string message = only_object(result)["error"]["message"];
  EXPECT_NE(message.find("3 lines are invalid"), std::string::npos) << message;
  EXPECT_NE(message.find("line 2: \"quality\" is not an input of openai/gpt-image-1"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("line 3: \"aspect_ratio\" \"7:1\" is not one of openai/gpt-image-2's"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("line 4: \"model\" must be a string"), std::string::npos) << message;
  EXPECT_EQ(stats(emulator)["requests"]["create"], 0);
}

const std::string kPricedBatch =
    "A red fox\n"
    "{\"model\": \"gpt-image-2\", \"prompt\": \"A blue lamp\", \"resolution\": \"2K\"}\n"
    "\n"
    "{\"model\": \"gpt-image-1.5\", \"prompt\": \"A white cup\", \"quality\": \"medium\"}\n"
    "{\"model\": \"google/nano-banana-2\", \"prompt\": \"A green vase\"}\n";

// --dry-run needs no key and sends nothing: not a create, not any request.
TEST(CliModelTest, DryRunPrintsEachLinesPriceAndTheTotalAndSendsNothing) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const std::string file = write_file(dir, "priced.txt", kPricedBatch);
  const Env no_key = {{"RUNBASE_BASE_URL", emulator.base_url()}};
  const ProcessResult plain = runbase_cli({"batch", file, "--dry-run"}, no_key);
  ASSERT_EQ(plain.exit_code, 0) << describe(plain);
  EXPECT_EQ(lines(plain.out),
            (std::vector<std::string>{
                "line 1: openai/gpt-image-1 $0.05", "line 2: openai/gpt-image-2 $0.07",
                "line 4: openai/gpt-image-1.5 $0.03", "line 5: google/nano-banana-2 unknown",
                "total: $0.15 for 3 of 4 lines (1 of a model without a known price)"}))
      << plain.out;

  const ProcessResult as_json = runbase_cli({"batch", file, "--dry-run", "--json"}, no_key);
  ASSERT_EQ(as_json.exit_code, 0) << describe(as_json);
  const json estimate = only_object(as_json);
  EXPECT_EQ(estimate["dryRun"], true);
  EXPECT_EQ(estimate["totalCostUsd"], 150000);
  EXPECT_EQ(estimate["unpricedLines"], 1);
  ASSERT_EQ(estimate["lines"].size(), 4u) << estimate;
  EXPECT_EQ(estimate["lines"][1],
            json({{"line", 2}, {"model", "openai/gpt-image-2"}, {"costUsd", 70000}}));
  EXPECT_TRUE(estimate["lines"][3]["costUsd"].is_null()) << estimate;

  // A bad line is still refused whole, with exit code 3.
  const ProcessResult bad = runbase_cli(
      {"batch", write_file(dir, "bad.txt", "A fox\n{\"prompt\": \"\"}\n"), "--dry-run"}, no_key);
  EXPECT_EQ(bad.exit_code, 3) << describe(bad);
  EXPECT_EQ(bad.out, "");

  const json counted = stats(emulator);
  EXPECT_EQ(counted["requests"]["create"], 0) << counted;
  EXPECT_EQ(counted["requests"]["get"], 0) << counted;
  EXPECT_EQ(counted["runs_created"], 0) << counted;
}

// ---- exit codes, one per failure class --------------------------------------------------------

TEST(CliExitCodeTest, UsageErrorsExit2) {
  EXPECT_EQ(runbase_cli({}, {}).exit_code, 2);
  EXPECT_EQ(runbase_cli({"generate"}, {}).exit_code, 2);
  EXPECT_EQ(runbase_cli({"generate", "x", "--bogus"}, {}).exit_code, 2);
  // A flag the model does not take (its values are checked by model: exit 3, see CliModelTest).
  const ProcessResult quality = runbase_cli({"generate", "x", "--quality", "high"}, {});
  EXPECT_EQ(quality.exit_code, 2);
  EXPECT_NE(quality.err.find("--quality"), std::string::npos) << quality.err;
  EXPECT_EQ(runbase_cli({"generate", "x", "--timeout", "-1"}, {}).exit_code, 2);
  EXPECT_EQ(runbase_cli({"frobnicate"}, {}).exit_code, 2);
}

TEST(CliExitCodeTest, InvalidInputExits3AndSendsNothing) {
  EmulatorProcess emulator(emulator_args());
  const ProcessResult empty = runbase_cli({"generate", ""}, env_for(emulator));
  EXPECT_EQ(empty.exit_code, 3) << describe(empty);
  EXPECT_NE(empty.err.find("error: prompt"), std::string::npos) << empty.err;
  EXPECT_NE(empty.err.find("hint: "), std::string::npos) << empty.err;

  std::vector<std::string> six = {"generate", kLamp, "--json"};
  for (int i = 0; i < 6; ++i) {
    six.push_back("--image-url");
    six.push_back("https://example.com/" + std::to_string(i) + ".png");
  }
  const ProcessResult too_many = runbase_cli(six, env_for(emulator));
  EXPECT_EQ(too_many.exit_code, 3) << describe(too_many);
  EXPECT_EQ(only_object(too_many)["error"]["kind"], "validation");

  const ProcessResult ftp =
      runbase_cli({"generate", kLamp, "--image-url", "ftp://example.com/a.png"}, env_for(emulator));
  EXPECT_EQ(ftp.exit_code, 3) << describe(ftp);
  EXPECT_EQ(stats(emulator)["requests"]["create"], 0);
}

TEST(CliExitCodeTest, MissingOrWrongKeyExits4) {
  EmulatorProcess emulator(emulator_args());
  const ProcessResult missing =
      runbase_cli({"generate", kLamp}, {{"RUNBASE_BASE_URL", emulator.base_url()}});
  EXPECT_EQ(missing.exit_code, 4) << describe(missing);
  EXPECT_NE(missing.err.find("--api-key"), std::string::npos) << missing.err;

  const ProcessResult wrong =
      runbase_cli({"generate", kLamp, "--json"}, env_for(emulator, "sk-not-this-one"));
  EXPECT_EQ(wrong.exit_code, 4) << describe(wrong);
  const json error = only_object(wrong)["error"];
  EXPECT_EQ(error["kind"], "authentication");
  EXPECT_EQ(error["httpStatus"], 401);
  EXPECT_EQ(error["code"], "invalid_api_key");
  EXPECT_EQ(only_object(wrong)["exitCode"], 4);
}

TEST(CliExitCodeTest, NoBalanceExits5) {
  EmulatorProcess emulator(emulator_args({"--balance-usd", "0"}));
  const ProcessResult result = runbase_cli({"generate", kLamp, "--json"}, env_for(emulator));
  EXPECT_EQ(result.exit_code, 5) << describe(result);
  const json error = only_object(result)["error"];
  EXPECT_EQ(error["kind"], "credits");
  EXPECT_EQ(error["httpStatus"], 402);
  EXPECT_EQ(error["code"], "insufficient_balance");
  EXPECT_FALSE(error["outcomeUnknown"].get<bool>());
}

TEST(CliExitCodeTest, UnknownRunExits6) {
  EmulatorProcess emulator(emulator_args());
  const ProcessResult plain = runbase_cli({"get", "run_missing"}, env_for(emulator));
  EXPECT_EQ(plain.exit_code, 6) << describe(plain);
  EXPECT_NE(plain.err.find("error: 404 run_not_found"), std::string::npos) << plain.err;
  EXPECT_NE(plain.err.find("hint: "), std::string::npos) << plain.err;

  const ProcessResult waited = runbase_cli({"wait", "run_missing", "--json"}, env_for(emulator));
  EXPECT_EQ(waited.exit_code, 6) << describe(waited);
  const json object = only_object(waited);
  EXPECT_EQ(object["id"], "run_missing");
  EXPECT_EQ(object["error"]["kind"], "not_found");
}

TEST(CliExitCodeTest, RateLimitExits7) {
  // One request per two minutes: the second request gets 429 with a Retry-After far beyond the
  // SDK's 60 s, so it is reported at once instead of being waited out.
  EmulatorProcess emulator(emulator_args({"--rate-limit", "1/120"}));
  EXPECT_EQ(runbase_cli({"get", "run_missing"}, env_for(emulator)).exit_code, 6);
  const ProcessResult limited = runbase_cli({"get", "run_missing", "--json"}, env_for(emulator));
  EXPECT_EQ(limited.exit_code, 7) << describe(limited);
  const json error = only_object(limited)["error"];
  EXPECT_EQ(error["kind"], "limit");
  EXPECT_EQ(error["httpStatus"], 429);
  EXPECT_EQ(error["code"], "RATE_LIMITED");
}

TEST(CliExitCodeTest, ServerErrorOnCreateExits8AndWarnsOfABilledRun) {
  EmulatorProcess emulator(emulator_args());
  const ProcessResult result =
      runbase_cli({"generate", "A lamp [500]", "--json"}, env_for(emulator));
  EXPECT_EQ(result.exit_code, 8) << describe(result);
  EXPECT_NE(result.err.find("may exist and be billed; check before retrying"), std::string::npos)
      << result.err;
  const json error = only_object(result)["error"];
  EXPECT_EQ(error["kind"], "server_or_network");
  EXPECT_EQ(error["httpStatus"], 500);
  EXPECT_TRUE(error["outcomeUnknown"].get<bool>());
  // Never resent: a second create could bill a second run.
  EXPECT_EQ(stats(emulator)["requests"]["create"], 1);
}

TEST(CliExitCodeTest, DroppedCreateExits8AndIsNotResent) {
  EmulatorProcess emulator(emulator_args());
  const ProcessResult result = runbase_cli({"generate", "A lamp [drop]"}, env_for(emulator));
  EXPECT_EQ(result.exit_code, 8) << describe(result);
  EXPECT_NE(result.err.find("may exist and be billed; check before retrying"), std::string::npos)
      << result.err;
  EXPECT_EQ(stats(emulator)["requests"]["create"], 1);
}

TEST(CliExitCodeTest, UnreachableServerExits8) {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  const ProcessResult result =
      runbase_cli({"get", "run_x"},
                  {{"RUNBASE_BASE_URL", "http://127.0.0.1:1/api/v1"}, {"RUNBASE_API_KEY", kKey}});
  EXPECT_EQ(result.exit_code, 8) << describe(result);
  EXPECT_NE(result.err.find("--base-url"), std::string::npos) << result.err;
}

TEST(CliExitCodeTest, FailedRunExits9WithTheRunInJson) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const ProcessResult result =
      runbase_cli({"generate", "A lamp [fail]", "--json", "--out", dir.path()}, env_for(emulator));
  EXPECT_EQ(result.exit_code, 9) << describe(result);
  const json run = only_object(result);
  EXPECT_EQ(run["status"], "failed");
  EXPECT_EQ(run["id"].get<std::string>().rfind("run_", 0), 0u);
  EXPECT_EQ(run["error"]["kind"], "run_failed");
  EXPECT_FALSE(run["error"]["message"].get<std::string>().empty());
  EXPECT_EQ(run["exitCode"], 9);
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(CliExitCodeTest, WaitPastTimeoutExits10AndSaysHowToResume) {
  EmulatorProcess emulator(emulator_args());
  const ProcessResult result =
      runbase_cli({"generate", "A lamp [never]", "--timeout", "1", "--json"}, env_for(emulator));
  EXPECT_EQ(result.exit_code, 10) << describe(result);
  const json object = only_object(result);
  const std::string id = object["id"];
  EXPECT_EQ(object["error"]["kind"], "timeout");
  EXPECT_NE(result.err.find("runbase wait " + id), std::string::npos) << result.err;

  const ProcessResult again = runbase_cli({"wait", id, "--timeout", "0.5"}, env_for(emulator));
  EXPECT_EQ(again.exit_code, 10) << describe(again);
}

TEST(CliExitCodeTest, InterruptDuringAWaitExits130AndPrintsTheRunId) {
  EmulatorProcess emulator(emulator_args());
  const ProcessResult result =
      runbase_cli({"generate", "A lamp [never]", "--json"}, env_for(emulator), {}, ": pending");
  ASSERT_TRUE(result.interrupted) << describe(result);
  EXPECT_EQ(result.exit_code, 130) << describe(result);
  const json object = only_object(result);
  const std::string id = object["id"];
  EXPECT_EQ(id.rfind("run_", 0), 0u);
  EXPECT_EQ(object["error"]["kind"], "interrupted");
  EXPECT_NE(result.err.find("runbase wait " + id), std::string::npos) << result.err;
  // The run goes on on the server.
  const json runs = stats(emulator)["runs"];
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["id"], id);
}

// ---- deadlines, signals and stdout during downloads (issue 11) ----------------------------------

// A front for the emulator: API calls pass through to it with this server's Host header, so the
// emulator's output URLs name this server, and every image download sends its first 4 KiB, then
// nothing until the test ends: a stalled CDN, behind a real run.
class StallingFront {
 public:
  explicit StallingFront(const EmulatorProcess& emulator) {
    const auto forward = [root = emulator.root_url()](const httplib::Request& req,
                                                      httplib::Response& res) {
      httplib::Client upstream(root);
      httplib::Headers headers;
      for (const char* name : {"Authorization", "Host", "User-Agent", "Accept"}) {
        if (req.has_header(name)) headers.emplace(name, req.get_header_value(name));
      }
      const httplib::Result reply =
          req.method == "POST"
              ? upstream.Post(req.path, headers, req.body, req.get_header_value("Content-Type"))
              : upstream.Get(req.path, headers);
      if (!reply) {
        res.status = 502;
        return;
      }
      res.status = reply->status;
      if (reply->has_header("X-Request-Id")) {
        res.set_header("X-Request-Id", reply->get_header_value("X-Request-Id"));
      }
      res.set_content(reply->body, reply->get_header_value("Content-Type"));
    };
    server_.server().Get("/api/v1/.*", forward);
    server_.server().Post("/api/v1/.*", forward);
    server_.server().Get("/files/.*", [this](const httplib::Request&, httplib::Response& res) {
      constexpr std::size_t kImageBytes = 1 << 20;
      res.set_content_provider(kImageBytes, "image/png",
                               [this](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                                 if (offset == 0) {
                                   const std::string head(4096, '\x89');
                                   sink.write(head.data(), head.size());
                                 }
                                 server_.stall();
                                 return false;
                               });
    });
    server_.start();
  }

  std::string base_url() const { return server_.url("/api/v1"); }
  // Where the front serves (and stalls) the image of `run_id`.
  std::string image_url(const std::string& run_id) const {
    return server_.url("/files/generated/" + run_id + ".png");
  }

  // Image downloads that reached this server.
  std::size_t downloads() const {
    std::size_t count = 0;
    for (const auto& request : server_.received()) {
      if (request.target.rfind("/files/", 0) == 0) ++count;
    }
    return count;
  }

 private:
  LoopbackServer server_;
};

Env env_for(const StallingFront& front) {
  return {{"RUNBASE_BASE_URL", front.base_url()}, {"RUNBASE_API_KEY", kKey}};
}

// The names of the files in `dir` (none if it does not exist), hidden ones included.
std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

bool has_part_file(const std::string& dir) {
  const auto names = files_in(dir);
  return std::any_of(names.begin(), names.end(),
                     [](const std::string& name) { return fs::path(name).extension() == ".part"; });
}

// Runs the CLI and sends it `signal` once a download's `.part` file exists in `dir`: the moment a
// killed program would leave it behind.
ProcessResult runbase_cli_signalled_mid_download(std::vector<std::string> args, Env env,
                                                 const std::string& dir, int signal) {
  ProcessOptions options;
  options.args.push_back(RUNBASE_CLI_PATH);
  options.args.insert(options.args.end(), args.begin(), args.end());
  options.env = std::move(env);
  options.on_tick = [&dir, signal, sent = false]() mutable {
    if (sent || !has_part_file(dir)) return 0;
    sent = true;
    return signal;
  };
  return run_process(options);
}

TEST(CliDeadlineTest, GenerateTimeoutCutsAStalledDownloadAndLeavesNoPartFile) {
  EmulatorProcess emulator(emulator_args());
  StallingFront front(emulator);
  TempDir dir;
  const auto started = std::chrono::steady_clock::now();
  const ProcessResult result = runbase_cli(
      {"generate", kLamp, "--timeout", "6", "--out", dir.path(), "--json"}, env_for(front));
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(result.exit_code, 10) << describe(result);
  EXPECT_EQ(front.downloads(), 1u) << "the run should have finished and its download stalled";
  json object = only_object(result);  // not const: a missing key reads as null
  const std::string id = object.value("id", "");
  EXPECT_EQ(id.rfind("run_", 0), 0u) << object;
  EXPECT_EQ(object["error"]["kind"], "timeout");
  EXPECT_EQ(object["exitCode"], 10);
  const std::string cut =
      "error: Run " + id + " succeeded, but saving its images did not finish within --timeout";
  EXPECT_NE(result.err.find(cut), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("runbase wait " + id + " --out DIR"), std::string::npos) << result.err;
  EXPECT_TRUE(files_in(dir.path()).empty()) << "left behind: " << files_in(dir.path()).front();
  // The deadline is the command's: not 60 s of request timeout, nor retries after it.
  EXPECT_LT(took, std::chrono::seconds(14));
}

TEST(CliDeadlineTest, WaitTimeoutCutsAStalledDownloadToo) {
  EmulatorProcess emulator(emulator_args());
  StallingFront front(emulator);
  TempDir dir;
  const ProcessResult created = runbase_cli({"generate", kLamp, "--no-wait"}, env_for(emulator));
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  const std::string id = lines(created.out).at(0);
  const ProcessResult result =
      runbase_cli({"wait", id, "--timeout", "5", "--out", dir.path()}, env_for(front));
  EXPECT_EQ(result.exit_code, 10) << describe(result);
  EXPECT_EQ(front.downloads(), 1u);
  EXPECT_NE(result.err.find("error: Run " + id + " succeeded, but saving"), std::string::npos)
      << result.err;
  EXPECT_TRUE(result.out.empty()) << result.out;
  EXPECT_TRUE(files_in(dir.path()).empty()) << "left behind: " << files_in(dir.path()).front();
}

TEST(CliDeadlineTest, GetHasAnOverallTimeout) {
  // A server that never answers: only the command's deadline can end `get`.
  LoopbackServer stalled;
  stalled.server().Get(
      "/api/v1/.*", [&stalled](const httplib::Request&, httplib::Response&) { stalled.stall(); });
  stalled.start();
  const auto started = std::chrono::steady_clock::now();
  const ProcessResult result =
      runbase_cli({"get", "run_abc", "--timeout", "1", "--json"},
                  {{"RUNBASE_BASE_URL", stalled.url("/api/v1")}, {"RUNBASE_API_KEY", kKey}});
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(result.exit_code, 10) << describe(result);
  json object = only_object(result);
  EXPECT_EQ(object["id"], "run_abc");
  EXPECT_EQ(object["error"]["kind"], "timeout");
  EXPECT_NE(result.err.find("error: Run run_abc could not be fetched within --timeout"),
            std::string::npos)
      << result.err;
  EXPECT_LT(took, std::chrono::seconds(5));
  // Its default is that of the other commands.
  const ProcessResult help = runbase_cli({"get", "--help"}, {});
  EXPECT_NE(help.out.find("--timeout"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("600"), std::string::npos) << help.out;
}

// A server that asks for a pause past --timeout: `get` ends at once with the server's answer
// instead of waiting out the pause.
TEST(CliDeadlineTest, GetDoesNotWaitOutARetryAfterPastItsTimeout) {
  LoopbackServer busy;
  busy.server().Get("/api/v1/.*", [](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("Retry-After", "30");
    res.set_content(R"({"error":{"message":"Too many requests","code":"RATE_LIMITED"}})",
                    "application/json");
  });
  busy.start();
  const auto started = std::chrono::steady_clock::now();
  const ProcessResult result =
      runbase_cli({"get", "run_abc", "--timeout", "3", "--json"},
                  {{"RUNBASE_BASE_URL", busy.url("/api/v1")}, {"RUNBASE_API_KEY", kKey}});
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
  EXPECT_EQ(result.exit_code, 7) << describe(result);  // rate or usage limit
  EXPECT_EQ(busy.requests(), 1u);
}

// SIGINT (Ctrl-C) and SIGTERM in the middle of a download: the partial file is removed, the run
// id is on stderr with how to resume, --json still prints one whole object, and the exit status
// is 128 + the signal.
class CliSignalDuringDownloadTest : public ::testing::TestWithParam<int> {};

TEST_P(CliSignalDuringDownloadTest, GenerateRemovesThePartFileAndPrintsTheRun) {
  const int signal = GetParam();
  EmulatorProcess emulator(emulator_args());
  StallingFront front(emulator);
  TempDir dir;
  const ProcessResult result = runbase_cli_signalled_mid_download(
      {"generate", kLamp, "--out", dir.path(), "--json"}, env_for(front), dir.path(), signal);
  ASSERT_EQ(result.signal_sent, signal) << describe(result);
  EXPECT_EQ(result.exit_code, 128 + signal) << describe(result);
  json object = only_object(result);
  const std::string id = object.value("id", "");
  EXPECT_EQ(id.rfind("run_", 0), 0u) << object;
  EXPECT_EQ(object["error"]["kind"], "interrupted");
  EXPECT_EQ(object["exitCode"], 128 + signal);
  EXPECT_NE(result.err.find("Interrupted while saving the images of run " + id), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("runbase wait " + id + " --out DIR"), std::string::npos) << result.err;
  EXPECT_TRUE(files_in(dir.path()).empty()) << "left behind: " << files_in(dir.path()).front();
}

TEST_P(CliSignalDuringDownloadTest, BatchRemovesThePartFileAndListsTheRun) {
  const int signal = GetParam();
  EmulatorProcess emulator(emulator_args());
  StallingFront front(emulator);
  TempDir dir;
  const std::string file = write_file(dir, "prompts.txt", "A red fox\n");
  const std::string out = dir.path() + "/out";
  const ProcessResult result = runbase_cli_signalled_mid_download(
      {"batch", file, "--out", out, "--json"}, env_for(front), out, signal);
  ASSERT_EQ(result.signal_sent, signal) << describe(result);
  EXPECT_EQ(result.exit_code, 128 + signal) << describe(result);
  json object = only_object(result);
  const std::string id = object.value("id", "");
  EXPECT_EQ(id.rfind("run_", 0), 0u) << object;
  EXPECT_EQ(object["line"], 1);
  EXPECT_EQ(object["error"]["kind"], "interrupted");
  EXPECT_NE(result.err.find("1 succeeded run not saved (" + id + ")"), std::string::npos)
      << result.err;
  EXPECT_TRUE(files_in(out).empty()) << "left behind: " << files_in(out).front();
}

TEST_P(CliSignalDuringDownloadTest, DownloadRemovesThePartFile) {
  const int signal = GetParam();
  EmulatorProcess emulator(emulator_args());
  StallingFront front(emulator);
  TempDir dir;
  const ProcessResult created =
      runbase_cli({"generate", kLamp, "--json", "--out", dir.path()}, env_for(emulator));
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  const std::string id = only_object(created)["id"];
  const std::string url = front.image_url(id);
  const std::string out = dir.path() + "/out";
  const ProcessResult result = runbase_cli_signalled_mid_download(
      {"download", url, "--out", out, "--json"}, {}, out, signal);
  ASSERT_EQ(result.signal_sent, signal) << describe(result);
  EXPECT_EQ(result.exit_code, 128 + signal) << describe(result);
  EXPECT_EQ(only_object(result)["error"]["kind"], "interrupted");
  EXPECT_TRUE(files_in(out).empty()) << "left behind: " << files_in(out).front();
}

INSTANTIATE_TEST_SUITE_P(Signals, CliSignalDuringDownloadTest, ::testing::Values(SIGINT, SIGTERM),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return std::string(param.param == SIGINT ? "Sigint" : "Sigterm");
                         });

TEST(CliSignalTest, SigtermDuringAWaitPrintsTheRunAndExits143) {
  EmulatorProcess emulator(emulator_args());
  std::function<int(const std::string&)> watch = [sent = false](const std::string& err) mutable {
    if (sent || err.find(": pending") == std::string::npos) return 0;
    sent = true;
    return SIGTERM;
  };
  const ProcessResult result =
      runbase_cli_watched({"generate", "A lamp [never]", "--json"}, env_for(emulator), watch);
  ASSERT_EQ(result.signal_sent, SIGTERM) << describe(result);
  EXPECT_EQ(result.exit_code, 143) << describe(result);
  json object = only_object(result);
  const std::string id = object.value("id", "");
  EXPECT_EQ(id.rfind("run_", 0), 0u) << object;
  EXPECT_EQ(object["error"]["kind"], "interrupted");
  EXPECT_EQ(object["exitCode"], 143);
  EXPECT_NE(result.err.find("runbase wait " + id), std::string::npos) << result.err;
}

// ---- stdout that cannot be written ------------------------------------------------------------

ProcessResult runbase_cli_to(StdoutTo target, std::vector<std::string> args, Env env) {
  ProcessOptions options;
  options.args.push_back(RUNBASE_CLI_PATH);
  options.args.insert(options.args.end(), args.begin(), args.end());
  options.env = std::move(env);
  options.stdout_to = target;
  return run_process(options);
}

TEST(CliStdoutTest, AClosedPipeIsAnErrorNotASilentDeath) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  // As in `runbase generate ... | head -c0`: the reader is gone before anything is written.
  const ProcessResult result = runbase_cli_to(
      StdoutTo::ClosedPipe, {"generate", kLamp, "--out", dir.path()}, env_for(emulator));
  EXPECT_EQ(result.exit_code, 1) << describe(result);  // not 141: SIGPIPE
  EXPECT_NE(result.err.find("error: Could not write to stdout (Broken pipe)"), std::string::npos)
      << result.err;
  // The work was done all the same, and the message says where it went.
  const auto names = files_in(dir.path());
  ASSERT_EQ(names.size(), 1u);
  EXPECT_TRUE(is_png_file(dir.path() + "/" + names[0])) << names[0];
  EXPECT_NE(result.err.find(names[0]), std::string::npos) << result.err;
}

TEST(CliStdoutTest, AFullDiskIsAnErrorForEveryCommand) {
  EmulatorProcess emulator(emulator_args());
  TempDir dir;
  const ProcessResult generated = runbase_cli_to(
      StdoutTo::DevFull, {"generate", kLamp, "--out", dir.path(), "--json"}, env_for(emulator));
  EXPECT_EQ(generated.exit_code, 1) << describe(generated);
  EXPECT_NE(generated.err.find("error: Could not write to stdout (No space left on device)"),
            std::string::npos)
      << generated.err;
  EXPECT_FALSE(has_part_file(dir.path()));

  const ProcessResult created = runbase_cli({"generate", kLamp, "--no-wait"}, env_for(emulator));
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  const std::string id = lines(created.out).at(0);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"get", id}, std::vector<std::string>{"get", id, "--json"},
        std::vector<std::string>{"generate", kLamp, "--no-wait"}}) {
    const ProcessResult result = runbase_cli_to(StdoutTo::DevFull, args, env_for(emulator));
    EXPECT_EQ(result.exit_code, 1) << args[0] << ' ' << args.back() << '\n' << describe(result);
    EXPECT_NE(result.err.find("error: Could not write to stdout"), std::string::npos) << result.err;
  }
}

// ---- the classification table, in process ------------------------------------------------------

ApiErrorDetails details(int status, std::string code) {
  ApiErrorDetails result;
  result.status = status;
  result.code = std::move(code);
  return result;
}

template <typename E>
cli::Failure classify(E error, cli::Phase phase = cli::Phase::Get, std::string run_id = {}) {
  return cli::describe_failure(std::make_exception_ptr(std::move(error)), phase, run_id);
}

TEST(CliFailureTest, EachErrorClassHasItsExitCode) {
  using cli::ExitCode;
  EXPECT_EQ(classify(ValidationError("bad")).code, ExitCode::Validation);
  EXPECT_EQ(classify(cli::MissingApiKeyError("no key")).code, ExitCode::Authentication);
  EXPECT_EQ(classify(BadRequestError("m", details(400, "invalid_input"))).code,
            ExitCode::Validation);
  EXPECT_EQ(classify(AuthenticationError("m", details(401, "invalid_api_key"))).code,
            ExitCode::Authentication);
  EXPECT_EQ(classify(PermissionDeniedError("m", details(403, "ip_not_allowed"))).code,
            ExitCode::Authentication);
  EXPECT_EQ(classify(InsufficientCreditsError("m", details(402, ""))).code, ExitCode::Credits);
  EXPECT_EQ(classify(NotFoundError("m", details(404, "run_not_found"))).code, ExitCode::NotFound);
  EXPECT_EQ(classify(RateLimitError("m", details(429, "RATE_LIMITED"))).code, ExitCode::Limit);
  EXPECT_EQ(classify(UsageExceededError("m", details(429, "USAGE_EXCEEDED"))).code,
            ExitCode::Limit);
  EXPECT_EQ(classify(ServerError("m", details(503, ""), true)).code, ExitCode::ServerOrNetwork);
  EXPECT_EQ(classify(ConnectionError("m")).code, ExitCode::ServerOrNetwork);
  EXPECT_EQ(classify(ProtocolError("m")).code, ExitCode::ServerOrNetwork);
  EXPECT_EQ(classify(TimeoutError("m", true)).code, ExitCode::ServerOrNetwork);
  EXPECT_EQ(classify(TimeoutError("m", false, "run_1")).code, ExitCode::Timeout);
  runbase::Run failed;
  failed.id = "run_2";
  failed.status = RunStatus::Failed;
  EXPECT_EQ(classify(RunFailedError(failed)).code, ExitCode::RunFailed);
  EXPECT_EQ(classify(CancelledError("m", "run_3")).code, ExitCode::Interrupted);
  EXPECT_EQ(classify(ApiError("m", details(409, ""))).code, ExitCode::Other);
  EXPECT_EQ(classify(std::runtime_error("disk full")).code, ExitCode::Other);
  EXPECT_EQ(cli::to_int(ExitCode::Interrupted), 130);
}

TEST(CliFailureTest, DeadlinesSignalsAndStdoutErrorsDuringDownloads) {
  using cli::ExitCode;
  const cli::Failure download = classify(cli::DeadlineError("m"), cli::Phase::Download, "run_5");
  EXPECT_EQ(download.code, ExitCode::Timeout);
  EXPECT_EQ(download.kind, "timeout");
  EXPECT_NE(download.message.find("Run run_5 succeeded"), std::string::npos) << download.message;
  EXPECT_NE(download.hint.find("runbase wait run_5 --out DIR"), std::string::npos);
  EXPECT_EQ(classify(cli::DeadlineError("m"), cli::Phase::Get, "run_6").code, ExitCode::Timeout);

  const cli::Failure cut = classify(CancelledError("m"), cli::Phase::Download, "run_7");
  EXPECT_EQ(cut.code, ExitCode::Interrupted);
  EXPECT_NE(cut.message.find("Interrupted while saving the images of run run_7"), std::string::npos)
      << cut.message;

  // The files were saved: no advice to save them again, only about stdout.
  const cli::Failure output = classify(cli::OutputError("m"), cli::Phase::Download, "run_8");
  EXPECT_EQ(output.code, ExitCode::Other);
  EXPECT_EQ(output.hint.find("runbase wait"), std::string::npos) << output.hint;

  EXPECT_EQ(cli::to_int(ExitCode::Terminated), 143);
  EXPECT_EQ(cli::kind_name(ExitCode::Terminated), "interrupted");
}

TEST(CliFailureTest, HintsSayWhatToDoNext) {
  const cli::Failure create = classify(ConnectionError("m", true), cli::Phase::Create);
  EXPECT_NE(create.hint.find("may exist and be billed; check before retrying"), std::string::npos);
  EXPECT_TRUE(create.outcome_unknown);

  const cli::Failure poll =
      classify(ServerError("m", details(500, ""), true), cli::Phase::Wait, "run_9");
  EXPECT_NE(poll.hint.find("runbase wait run_9"), std::string::npos) << poll.hint;
  EXPECT_EQ(poll.hint.find("billed; check before"), std::string::npos) << poll.hint;

  const cli::Failure timeout = classify(TimeoutError("m", false, "run_7"), cli::Phase::Wait);
  EXPECT_EQ(timeout.run_id, "run_7");
  EXPECT_NE(timeout.hint.find("runbase wait run_7 --out DIR"), std::string::npos);

  const cli::Failure refused = classify(ConnectionError("m", false), cli::Phase::Create);
  EXPECT_NE(refused.hint.find("Nothing was sent"), std::string::npos) << refused.hint;
}

TEST(CliStatusLineTest, PlainModePrintsOneLinePerChange) {
  std::ostringstream err;
  {
    cli::StatusLine status(err, false);
    status.set("run_1: pending");
    status.set("run_1: pending");
    status.set("run_1: processing");
    status.print("debug: a log line");
    status.finish(true);
  }
  const auto printed = lines(err.str());
  ASSERT_EQ(printed.size(), 3u) << err.str();
  EXPECT_EQ(printed[0].rfind("run_1: pending (", 0), 0u);
  EXPECT_EQ(printed[1].rfind("run_1: processing (", 0), 0u);
  EXPECT_EQ(printed[2], "debug: a log line");
  EXPECT_EQ(err.str().find('\r'), std::string::npos);
}

TEST(CliStatusLineTest, LiveModeRedrawsInPlaceAndKeepsTheLastStatus) {
  std::ostringstream err;
  {
    cli::StatusLine status(err, true);
    status.set("run_1: pending");
    status.print("debug: a log line");
    status.set("run_1: pending -> succeeded");
    status.finish(true);
  }
  const std::string text = err.str();
  EXPECT_NE(text.find("\r| run_1: pending  0."), std::string::npos) << text;
  // The log line is printed on a cleared line, then the status is drawn again.
  EXPECT_NE(text.find("\r\x1b[Kdebug: a log line\n"), std::string::npos) << text;
  EXPECT_NE(text.find("run_1: pending -> succeeded ("), std::string::npos) << text;
  EXPECT_EQ(text.back(), '\n');
}

}  // namespace
}  // namespace runbase::testing
