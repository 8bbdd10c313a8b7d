#pragma once

#include "sim/dialect.h"

namespace Sluice::Sim {

/// Anthropic `/messages`: `message` bodies, the Messages streaming events (message_start,
/// content_block_start, ping, content_block_delta, content_block_stop, message_delta, message_stop;
/// `error` for a scripted mid-stream failure), `anthropic-ratelimit-requests-*` headers.
class AnthropicDialect final : public Dialect
{
public:
    /// {"type": "error", "error": {"type", "message"}}.
    static nlohmann::json error(std::string_view type, std::string_view message);

    nlohmann::json replyBody(const ReplyContent &content) const override;
    void fillStream(StreamPlan &plan, const ReplyContent &content, bool includeUsage) const override;
    void appendRateLimitHeaders(QByteArray &headers, const OwnRateLimit::State &state) const override;

    nlohmann::json authenticationError() const override;
    nlohmann::json invalidRequest(std::string_view message) const override;
    nlohmann::json ownRateLimited(qint64 waitMs) const override;
    nlohmann::json scriptedRateLimited(std::string_view code) const override;
    nlohmann::json serverError(std::string_view code) const override;
    nlohmann::json scriptedClientError(std::string_view code) const override;

private:
    static QByteArray event(const char *name, const nlohmann::json &data);
};

} // namespace Sluice::Sim
