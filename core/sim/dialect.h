#pragma once

#include "sim/ownratelimit.h"

#include <QByteArray>

#include <nlohmann/json_fwd.hpp>

#include <string_view>

namespace Sluice::Sim {

class ReplyContent;
struct StreamPlan;

/// One API shape the simulator speaks (OpenAI chat completions or Anthropic messages): reply and
/// error bodies, the streamed events and the rate-limit headers. Stateless; shared by all requests.
class Dialect
{
public:
    virtual ~Dialect() = default;

    /// The non-streamed reply body.
    virtual nlohmann::json replyBody(const ReplyContent &content) const = 0;
    /// Fills the opening, delta, closing and error events of a streamed reply. `includeUsage`: the
    /// request asked for usage in the stream (OpenAI `stream_options.include_usage`).
    virtual void fillStream(StreamPlan &plan, const ReplyContent &content, bool includeUsage) const = 0;
    /// Appends the provider's request rate-limit headers.
    virtual void appendRateLimitHeaders(QByteArray &headers, const OwnRateLimit::State &state) const = 0;

    virtual nlohmann::json authenticationError() const = 0;
    virtual nlohmann::json invalidRequest(std::string_view message) const = 0;
    /// The own limit's 429; `waitMs` until a request would be allowed.
    virtual nlohmann::json ownRateLimited(qint64 waitMs) const = 0;
    /// A scripted 429 (`code` may be empty or e.g. insufficient_quota).
    virtual nlohmann::json scriptedRateLimited(std::string_view code) const = 0;
    /// A 5xx (random or scripted; `code` may be empty).
    virtual nlohmann::json serverError(std::string_view code) const = 0;
    /// A scripted 4xx other than 429.
    virtual nlohmann::json scriptedClientError(std::string_view code) const = 0;
};

} // namespace Sluice::Sim
