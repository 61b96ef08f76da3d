// The batch journal's file: records by input and occurrence, the lock, torn lines, version 1.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "batch_journal.hpp"
#include "runbase/errors.hpp"
#include "unit/support/test_client.hpp"

namespace runbase {
namespace {

using detail::BatchJournal;
using Kind = BatchJournal::Kind;

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(BatchJournalTest, RecordsByInputAndOccurrenceAndReadsBack) {
  test::TempDir dir;
  const auto path = dir.path() / "batch.journal";
  {
    BatchJournal journal(path);
    journal.record_intent("fnv1a64-aaaa", 0);
    journal.record_run("fnv1a64-aaaa", 0, "run_a0");
    journal.record_intent("fnv1a64-aaaa", 1);
    journal.record_run("fnv1a64-aaaa", 1, "run_a1");
    journal.record_intent("fnv1a64-bbbb", 0);
    journal.record_none("fnv1a64-bbbb", 0);
    journal.record_intent("fnv1a64-cccc", 0);  // sent, never answered
  }
  BatchJournal journal(path);
  EXPECT_TRUE(journal.torn().empty());
  EXPECT_EQ(journal.lookup("fnv1a64-aaaa", 0)->run_id, "run_a0");
  EXPECT_EQ(journal.lookup("fnv1a64-aaaa", 1)->run_id, "run_a1");
  EXPECT_EQ(journal.lookup("fnv1a64-aaaa", 1)->kind, Kind::Run);
  EXPECT_FALSE(journal.lookup("fnv1a64-aaaa", 2));
  EXPECT_EQ(journal.lookup("fnv1a64-bbbb", 0)->kind, Kind::None);
  const auto unknown = journal.lookup("fnv1a64-cccc", 0);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->kind, Kind::Intent);
  EXPECT_EQ(unknown->line, 8u);  // after the header and six records
}

TEST(BatchJournalTest, ASecondHolderIsRefusedNamingTheJournal) {
  test::TempDir dir;
  const auto path = dir.path() / "batch.journal";
  BatchJournal first(path);
  try {
    BatchJournal second(path);
    FAIL() << "a second journal on the same file opened";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find("another process"), std::string::npos) << message;
  }
}

TEST(BatchJournalTest, TheLockIsReleasedWithTheJournal) {
  test::TempDir dir;
  const auto path = dir.path() / "batch.journal";
  { BatchJournal first(path); }
  EXPECT_NO_THROW(BatchJournal second(path));
}

TEST(BatchJournalTest, ATornLineIsReportedNotTrustedAndAppendedAfter) {
  test::TempDir dir;
  const auto path = dir.path() / "batch.journal";
  {
    BatchJournal journal(path);
    journal.record_intent("fnv1a64-aaaa", 0);
    journal.record_run("fnv1a64-aaaa", 0, "run_a");
    journal.record_intent("fnv1a64-bbbb", 0);
    journal.record_run("fnv1a64-bbbb", 0, "run_b");
  }
  // The last record loses its end, as when the machine dies mid-write: its check cannot match.
  std::string text = read_all(path);
  text.resize(text.size() - 6);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  {
    BatchJournal journal(path);
    ASSERT_EQ(journal.torn().size(), 1u);
    EXPECT_NE(journal.torn()[0].find("line 5"), std::string::npos) << journal.torn()[0];
    EXPECT_EQ(journal.lookup("fnv1a64-aaaa", 0)->run_id, "run_a");
    // The intent before the torn answer stands: the create's outcome is unknown.
    EXPECT_EQ(journal.lookup("fnv1a64-bbbb", 0)->kind, Kind::Intent);
    journal.record_run("fnv1a64-bbbb", 0, "run_b");
  }
  // A record written after a torn line starts on a line of its own.
  BatchJournal journal(path);
  EXPECT_EQ(journal.torn().size(), 1u);
  EXPECT_EQ(journal.lookup("fnv1a64-bbbb", 0)->run_id, "run_b");
}

TEST(BatchJournalTest, ALineWithAChangedCharacterIsNotTrusted) {
  test::TempDir dir;
  const auto path = dir.path() / "batch.journal";
  {
    BatchJournal journal(path);
    journal.record_run("fnv1a64-aaaa", 0, "run_abc");
  }
  std::string text = read_all(path);
  text.replace(text.find("run_abc"), 7, "run_abd");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  BatchJournal journal(path);
  EXPECT_EQ(journal.torn().size(), 1u);
  EXPECT_FALSE(journal.lookup("fnv1a64-aaaa", 0));
}

TEST(BatchJournalTest, VersionOneLinesAreRunsNumberedByOccurrence) {
  test::TempDir dir;
  const auto path = dir.path() / "batch.journal";
  {
    std::ofstream out(path, std::ios::binary);
    out << "# runbase batch journal v1\n1\tfnv1a64-aaaa\trun_x\n0\tfnv1a64-aaaa\trun_y\n"
           "2\tfnv1a64-bbbb\trun_z\n";
  }
  BatchJournal journal(path);
  EXPECT_TRUE(journal.torn().empty());
  EXPECT_EQ(journal.lookup("fnv1a64-aaaa", 0)->run_id, "run_x");
  EXPECT_EQ(journal.lookup("fnv1a64-aaaa", 1)->run_id, "run_y");
  EXPECT_EQ(journal.lookup("fnv1a64-bbbb", 0)->run_id, "run_z");
}

TEST(BatchJournalTest, InAMissingDirectoryIsAnError) {
  test::TempDir dir;
  EXPECT_THROW(BatchJournal(dir.path() / "missing" / "batch.journal"), Error);
}

}  // namespace
}  // namespace runbase
