#pragma once

#include <nlohmann/json.hpp>

namespace Sluice {

/// Tokenizer-free token estimates for the token budgets, and what to reserve for the reply.
///
/// Prompt: about 4 UTF-8 bytes per token over every text in the request, plus 4 per message.
/// Output: the request's `max_tokens` (or `max_completion_tokens`) caps it. Until `WarmUp` replies have
/// been seen, the whole cap (or `DefaultOutputTokens` without one) is reserved; after that, the
/// reservation shrinks to what replies really use: a moving average of reported output tokens plus
/// two mean deviations, still capped by `max_tokens`. Reservations are settled against `usage` later.
class TokenEstimator
{
public:
    static constexpr int WarmUp = 20;
    static constexpr double DefaultOutputTokens = 1024;

    /// Estimated prompt tokens of a request, from its input line (any input format).
    static double promptTokens(const nlohmann::json &input);
    /// The most prompt tokens the request can cost, for cost budgets: one per byte of its body as JSON
    /// (keys and punctuation included: tools and schemas are rendered into the prompt; no tokenizer
    /// makes more tokens than bytes), plus `TokensPerMessage` per message for the chat template and
    /// `TokensPerImage` per image or document part (one sent by URL has few bytes).
    static double promptTokensUpperBound(const nlohmann::json &input);
    static constexpr double TokensPerMessage = 16;
    static constexpr double TokensPerImage = 2000;
    /// The request's max_tokens / max_completion_tokens, -1 when it has none.
    static double maxTokens(const nlohmann::json &input);

    /// Learns from one reply's reported output tokens.
    void observeOutput(double outputTokens);
    /// Output tokens to reserve for a request with this cap (-1 = none).
    double reserveOutput(double maxTokens) const;
    /// The full reservation: prompt + output.
    double reserve(const nlohmann::json &input) const;

private:
    double m_mean = 0;
    double m_deviation = 0;
    int m_seen = 0;
};

} // namespace Sluice
