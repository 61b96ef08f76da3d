#ifndef RUNBASE_SRC_PRICE_TABLE_HPP
#define RUNBASE_SRC_PRICE_TABLE_HPP

#include <cstdint>
#include <optional>

#include "create_request.hpp"

namespace runbase::detail {

/// What `request` costs by the model's published price (RUNBASE.md section 12), in micro-USD;
/// nullopt for a model without one. A tiered model whose input names no tier, or one the table
/// does not know, is priced at its dearest tier: the spend limit may stop early, never late.
std::optional<std::int64_t> list_price_usd_micros(const CreateRequest& request);

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_PRICE_TABLE_HPP
