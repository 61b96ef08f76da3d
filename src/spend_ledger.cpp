#include "spend_ledger.hpp"

#include <utility>

#include "runbase/errors.hpp"

namespace runbase::detail {

namespace {

std::int64_t checked_spend_limit(std::int64_t limit) {
  if (limit < 0) {
    throw ValidationError("ClientOptions::spend_limit_usd_micros is negative (" +
                          std::to_string(limit) + "): use 0 for no limit.");
  }
  return limit;
}

}  // namespace

SpendLedger::Reservation::Reservation(SpendLedger& ledger, std::int64_t share) noexcept
    : ledger_(&ledger), share_(share) {}

SpendLedger::Reservation::Reservation(Reservation&& other) noexcept
    : ledger_(std::exchange(other.ledger_, nullptr)), share_(other.share_) {}

SpendLedger::Reservation::~Reservation() { release(nullptr); }

std::int64_t SpendLedger::Reservation::settle(const Run& created) { return release(&created); }

std::int64_t SpendLedger::Reservation::release(const Run* created) {
  if (ledger_ == nullptr) return 0;
  return std::exchange(ledger_, nullptr)->settle(share_, created);
}

SpendLedger::SpendLedger(std::int64_t limit_usd_micros)
    : limit_(checked_spend_limit(limit_usd_micros)) {}

SpendLedger::Reservation SpendLedger::reserve(std::optional<std::int64_t> list_price) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::int64_t share = list_price.value_or(last_run_cost_);
  if (limit_ > 0) {
    const std::int64_t committed = spent_.load() + reserved_;
    if (committed >= limit_ || committed + share > limit_) {
      throw SpendLimitError(
          "Spend limit reached: this Client has spent " + std::to_string(spent_.load()) +
              " micro-USD" +
              (reserved_ > 0 ? " (and " + std::to_string(reserved_) + " more for creates in flight)"
                             : std::string()) +
              " of its " + std::to_string(limit_) +
              " (ClientOptions::spend_limit_usd_micros), and a run costs about " +
              std::to_string(share) + "; no request was sent. Raise the limit or use a new Client.",
          limit_, committed);
    }
  }
  reserved_ += share;
  return Reservation(*this, share);
}

std::int64_t SpendLedger::settle(std::int64_t share, const Run* created) {
  std::lock_guard<std::mutex> lock(mutex_);
  reserved_ -= share;
  if (created == nullptr) return 0;
  // Absent, a string or negative reads as 0: counted at the share, which errs towards stopping.
  const bool priced = created->cost_usd_micros > 0;
  const std::int64_t cost = priced ? created->cost_usd_micros : share;
  if (priced) last_run_cost_ = cost;
  if (created->status == RunStatus::Failed) return 0;  // failed at once: refunded at once
  spent_ += cost;
  if (!created->is_terminal()) charged_[created->id] = cost;
  return cost;
}

void SpendLedger::note_refund(const Run& run) {
  if (!run.is_terminal()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = charged_.find(run.id);
  if (it == charged_.end()) return;
  if (run.status == RunStatus::Failed) spent_ -= it->second;  // "You never pay for failed runs"
  charged_.erase(it);
}

std::int64_t SpendLedger::last_run_cost() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_run_cost_;
}

}  // namespace runbase::detail
