#include "price_table.hpp"

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace runbase::detail {

namespace {

struct Tier {
  std::string_view value;
  std::int64_t usd_micros;
};

struct ModelPrice {
  std::string_view model;
  std::string_view tier_field;  // empty: one fixed price, in tiers[0]
  std::array<Tier, 3> tiers;    // unused entries have an empty value
};

// The model pages' prices ("Fixed $0.05", "medium $0.03, high $0.16", "1K $0.05, 2K $0.07,
// 4K $0.12"), converted by the quickstart's micro-USD rule.
constexpr std::array<ModelPrice, 3> kPrices{{
    {"openai/gpt-image-1", "", {{{"", 50000}, {"", 0}, {"", 0}}}},
    {"openai/gpt-image-1.5", "quality", {{{"medium", 30000}, {"high", 160000}, {"", 0}}}},
    {"openai/gpt-image-2", "resolution", {{{"1K", 50000}, {"2K", 70000}, {"4K", 120000}}}},
}};

std::int64_t tier_price(const ModelPrice& price, std::string_view input_json) {
  std::int64_t dearest = 0;
  for (const Tier& tier : price.tiers) dearest = std::max(dearest, tier.usd_micros);
  const nlohmann::json input =
      nlohmann::json::parse(input_json, nullptr, /*allow_exceptions=*/false);
  if (!input.is_object()) return dearest;
  const auto field = input.find(std::string(price.tier_field));
  if (field == input.end() || !field->is_string()) return dearest;
  const auto& chosen = field->get_ref<const std::string&>();
  for (const Tier& tier : price.tiers) {
    if (!tier.value.empty() && tier.value == chosen) return tier.usd_micros;
  }
  return dearest;
}

}  // namespace

std::optional<std::int64_t> list_price_usd_micros(const CreateRequest& request) {
  for (const ModelPrice& price : kPrices) {
    if (price.model != request.model) continue;
    if (price.tier_field.empty()) return price.tiers[0].usd_micros;
    return tier_price(price, request.input_json);
  }
  return std::nullopt;
}

}  // namespace runbase::detail

namespace runbase {

std::optional<std::int64_t> estimate_cost_usd_micros(const ModelInput& input) {
  return detail::list_price_usd_micros(detail::CreateRequest{input.model(), input.input_json()});
}

}  // namespace runbase
