#pragma once

#include "sim/dialect.h"

namespace Sluice::Sim {

/// OpenAI `/chat/completions`: `chat.completion` bodies, `chat.completion.chunk` events ending in
/// `data: [DONE]`, `x-ratelimit-*-requests` headers (reset as a Go-style duration).
class OpenAiDialect final : public Dialect
{
public:
    /// {"error": {"message", "type", "code"}} (`code` null when empty).
    static nlohmann::json error(std::string_view message, std::string_view type, std::string_view code);
    /// A duration like Go's time.Duration.String(), rounded up to whole ms: "0s", "120ms", "1.5s", "1m26.4s".
    static QByteArray goDuration(double ms);

    nlohmann::json replyBody(const ReplyContent &content) const override;
    void fillStream(StreamPlan &plan, const ReplyContent &content, bool includeUsage) const override;
    void appendRateLimitHeaders(QByteArray &headers, const OwnRateLimit::State &state) const override;

    nlohmann::json authenticationError() const override;
    nlohmann::json invalidRequest(std::string_view message) const override;
    nlohmann::json ownRateLimited(qint64 waitMs) const override;
    nlohmann::json scriptedRateLimited(std::string_view code) const override;
    nlohmann::json serverError(std::string_view code) const override;
    nlohmann::json scriptedClientError(std::string_view code) const override;
};

} // namespace Sluice::Sim
