// The rate window's arithmetic on its own: when a request may start, when the next one could, how
// waiting creates hold back polls, and the pause after a 429. Pure: the test says what time it is.

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "rate_window.hpp"

namespace runbase {
namespace {

using detail::Clock;
using detail::RateWindow;
using std::chrono::milliseconds;
using Priority = RateWindow::Priority;

constexpr milliseconds ms(long long count) { return milliseconds(count); }

const Clock::time_point kT0 = Clock::time_point(std::chrono::hours(1000));
Clock::time_point at(long long milliseconds_after_t0) { return kT0 + ms(milliseconds_after_t0); }

// A window of `requests` per second.
RateWindow window(int requests) { return RateWindow(RateLimit{requests, ms(1000)}); }

TEST(RateWindowTest, DisabledWhenRequestsIsZeroOrLess) {
  for (int requests : {0, -1}) {
    SCOPED_TRACE(requests);
    RateWindow w = window(requests);
    EXPECT_FALSE(w.enabled());
    for (int i = 0; i < 100; ++i) {
      ASSERT_FALSE(w.blocked_until(kT0, Priority::Poll));
      w.start();
    }
    w.pause_until(at(5000));
    w.add_waiting_create(+3);
    EXPECT_FALSE(w.blocked_until(kT0, Priority::Poll));
    EXPECT_FALSE(w.blocked_until(kT0, Priority::Create));
  }
}

TEST(RateWindowTest, StartsFreelyBelowTheLimit) {
  RateWindow w = window(3);
  EXPECT_TRUE(w.enabled());
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(w.blocked_until(kT0, Priority::Poll)) << i;
    w.start();
  }
  EXPECT_EQ(w.in_flight(), 3);
}

// Requests in flight only: they end after now, so the earliest a slot could free is now + per.
TEST(RateWindowTest, NInFlightBlockUntilNowPlusPer) {
  RateWindow w = window(3);
  for (int i = 0; i < 3; ++i) w.start();
  for (Priority priority : {Priority::Poll, Priority::Create}) {
    EXPECT_EQ(w.blocked_until(kT0, priority), at(1000));
    EXPECT_EQ(w.blocked_until(at(400), priority), at(1400));
  }
}

TEST(RateWindowTest, AFinishedRequestFreesItsSlotExactlyPerAfterItsAnswer) {
  RateWindow w = window(1);
  w.start();
  w.finish(at(100));
  EXPECT_EQ(w.in_flight(), 0);
  EXPECT_EQ(w.blocked_until(at(100), Priority::Poll), at(1100));
  EXPECT_EQ(w.blocked_until(at(1099), Priority::Poll), at(1100));
  EXPECT_FALSE(w.blocked_until(at(1100), Priority::Poll));
}

// The earliest start is when enough slots free: the k-th oldest answer leaving the window, or
// now + per once requests in flight are needed too.
TEST(RateWindowTest, BlockedUntilTheKthOldestAnswerLeavesTheWindow) {
  struct Case {
    std::string name;
    int creates_waiting;  // each one a poll must leave a slot to
    Priority priority;
    long long until;  // ms after t0
  };
  // Three slots: answers at 100 and 200, one request in flight; asked at 500.
  for (const Case& c : {
           Case{"poll_needs_1st", 0, Priority::Poll, 1100},
           Case{"poll_leaving_one_create_needs_2nd", 1, Priority::Poll, 1200},
           Case{"poll_leaving_two_creates_needs_in_flight", 2, Priority::Poll, 1500},
           Case{"create_counts_no_reservation", 2, Priority::Create, 1100},
       }) {
    SCOPED_TRACE(c.name);
    RateWindow w = window(3);
    w.start();
    w.finish(at(100));
    w.start();
    w.finish(at(200));
    w.start();
    w.add_waiting_create(c.creates_waiting);
    EXPECT_EQ(w.blocked_until(at(500), c.priority), at(c.until));
  }
}

TEST(RateWindowTest, AnswersLeaveTheWindowOneByOne) {
  RateWindow w = window(3);
  for (long long answer : {100, 200, 300}) {
    w.start();
    w.finish(at(answer));
  }
  EXPECT_EQ(w.blocked_until(at(300), Priority::Poll), at(1100));
  EXPECT_FALSE(w.blocked_until(at(1100), Priority::Poll));
  w.start();
  EXPECT_EQ(w.blocked_until(at(1100), Priority::Poll), at(1200));
  EXPECT_FALSE(w.blocked_until(at(1200), Priority::Poll));
  w.start();
  EXPECT_EQ(w.blocked_until(at(1200), Priority::Poll), at(1300));
}

// Answers reported out of order still leave the window oldest first.
TEST(RateWindowTest, AnswersReportedOutOfOrderAreKeptInOrder) {
  RateWindow w = window(2);
  w.start();
  w.start();
  w.finish(at(300));
  w.finish(at(100));
  EXPECT_EQ(w.blocked_until(at(300), Priority::Poll), at(1100));
}

TEST(RateWindowTest, AWaitingCreateReservesASlotAgainstPollsButNotItself) {
  RateWindow w = window(2);
  w.start();  // one slot left
  w.add_waiting_create(+1);
  EXPECT_EQ(w.creates_waiting(), 1);
  EXPECT_EQ(w.blocked_until(kT0, Priority::Poll), at(1000));
  EXPECT_FALSE(w.blocked_until(kT0, Priority::Create));
  // The create takes the slot and stops waiting; polls share what is left.
  w.start();
  w.add_waiting_create(-1);
  w.finish(at(100));
  w.finish(at(200));
  EXPECT_EQ(w.blocked_until(at(200), Priority::Poll), at(1100));
  EXPECT_FALSE(w.blocked_until(at(1100), Priority::Poll));
}

TEST(RateWindowTest, PollsGoWhenNoCreateWaits) {
  RateWindow w = window(2);
  w.start();
  w.add_waiting_create(+2);
  EXPECT_TRUE(w.blocked_until(kT0, Priority::Poll));
  w.add_waiting_create(-2);
  EXPECT_FALSE(w.blocked_until(kT0, Priority::Poll));
  // An unmatched -1 does not make the count negative (which would let polls overrun creates).
  w.add_waiting_create(-1);
  EXPECT_EQ(w.creates_waiting(), 0);
  w.add_waiting_create(+1);
  EXPECT_TRUE(w.blocked_until(kT0, Priority::Poll));
}

TEST(RateWindowTest, PauseHoldsEveryRequestUntilItEnds) {
  RateWindow w = window(20);
  w.pause_until(at(4000));
  for (Priority priority : {Priority::Poll, Priority::Create}) {
    EXPECT_EQ(w.blocked_until(kT0, priority), at(4000));
    EXPECT_EQ(w.blocked_until(at(3999), priority), at(4000));
    EXPECT_FALSE(w.blocked_until(at(4000), priority));
  }
  // A shorter pause never shortens a longer one.
  w.pause_until(at(3000));
  EXPECT_EQ(w.blocked_until(kT0, Priority::Poll), at(4000));
  w.pause_until(at(6000));
  EXPECT_EQ(w.blocked_until(kT0, Priority::Poll), at(6000));
}

TEST(RateWindowTest, BlockedUntilIsTheLaterOfPauseAndWindow) {
  RateWindow w = window(1);
  w.start();
  w.finish(at(0));
  w.pause_until(at(500));
  EXPECT_EQ(w.blocked_until(at(0), Priority::Poll), at(1000));  // the window frees later
  w.pause_until(at(2000));
  EXPECT_EQ(w.blocked_until(at(0), Priority::Poll), at(2000));  // the pause ends later
}

// Whenever blocked, the answer is in the future: a driver sleeping until it makes progress.
TEST(RateWindowTest, BlockedUntilIsAlwaysAfterNow) {
  RateWindow w = window(2);
  for (long long now = 0; now < 5000; now += 50) {
    const auto blocked = w.blocked_until(at(now), Priority::Poll);
    if (blocked) {
      EXPECT_GT(*blocked, at(now));
      continue;
    }
    w.start();
    w.finish(at(now + 10));
  }
}

}  // namespace
}  // namespace runbase
