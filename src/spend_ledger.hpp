#ifndef RUNBASE_SRC_SPEND_LEDGER_HPP
#define RUNBASE_SRC_SPEND_LEDGER_HPP

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "runbase/run.hpp"

namespace runbase::detail {

/// What a Client has spent (`ClientOptions::spend_limit_usd_micros`, `spent_usd_micros`). A
/// create takes a share of the limit before it is sent (the model's list price, or for a model
/// without one the last run's cost), which becomes the run's real cost once created; a failed
/// run seen later gives its cost back. A created run whose reply has no usable `costUsd` is
/// counted at its share, so a server that leaves the cost out cannot switch the limit off.
///
/// Thread safety: safe from many threads.
class SpendLedger {
 public:
  /// A create's share of the limit while it is in flight. Settle it with the created run; one
  /// destroyed unsettled (the create threw) gives its share back.
  ///
  /// Thread safety: one thread at a time; the ledger it settles with is safe from many.
  class Reservation {
   public:
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&&) = delete;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation();

    /// The create made `created`: its cost is spent (unless it failed at once) and kept until
    /// the run is seen finished, in case it fails and is refunded. Returns the cost counted:
    /// the run's `costUsd`, or the share when the reply gave none above 0.
    std::int64_t settle(const Run& created);

   private:
    friend class SpendLedger;
    Reservation(SpendLedger& ledger, std::int64_t share) noexcept;
    std::int64_t release(const Run* created);

    SpendLedger* ledger_;  // null once settled or moved from
    std::int64_t share_;
  };

  /// Throws ValidationError when `limit_usd_micros` is negative; 0 is no limit.
  explicit SpendLedger(std::int64_t limit_usd_micros);
  SpendLedger(const SpendLedger&) = delete;
  SpendLedger& operator=(const SpendLedger&) = delete;

  /// Takes a create's share: `list_price` (`list_price_usd_micros`), or without one the last
  /// run's cost. Throws SpendLimitError when it would pass the limit: call before anything is
  /// sent.
  Reservation reserve(std::optional<std::int64_t> list_price);
  /// A run seen finished: a failed one that this ledger charged is refunded ("You never pay for
  /// failed runs"); either way it is forgotten.
  void note_refund(const Run& run);

  std::int64_t spent() const noexcept { return spent_.load(); }
  /// The last `costUsd` above 0 a create's reply gave, 0 before any: what a create of a model
  /// without a list price is expected to cost.
  std::int64_t last_run_cost() const;

 private:
  std::int64_t settle(std::int64_t share, const Run* created);

  const std::int64_t limit_;
  mutable std::mutex mutex_;  // guards everything below; spent_ is also read without it
  std::atomic<std::int64_t> spent_{0};
  std::int64_t reserved_ = 0;                              // shares of creates in flight
  std::int64_t last_run_cost_ = 0;                         // the last costUsd a create's reply gave
  std::unordered_map<std::string, std::int64_t> charged_;  // runs created, until seen finished
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_SPEND_LEDGER_HPP
