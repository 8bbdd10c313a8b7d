#include "anthropicdialect.h"

#include "sim/httpresponse.h"
#include "sim/replycontent.h"
#include "sim/streamplan.h"

#include <QDateTime>

#include <nlohmann/json.hpp>

#include <cmath>

namespace Sluice::Sim {

namespace {

using json = nlohmann::json;

std::string messageId(const ReplyContent &content)
{
    return "msg_sim_" + std::to_string(content.serial());
}

std::string toolUseId(const ReplyContent &content)
{
    return "toolu_sim_" + std::to_string(content.serial());
}

const char *stopReason(const ReplyContent &content)
{
    return content.toolCall() ? "tool_use" : "end_turn";
}

/// The content block as a non-streamed reply has it; `input` empty in a stream's content_block_start.
json contentBlock(const ReplyContent &content, bool whole)
{
    const auto &call = content.toolCall();
    if (!call)
        return {{"type", "text"}, {"text", whole ? content.text() : std::string()}};
    const json input = whole ? json::parse(call->arguments, nullptr, false) : json::object();
    return {{"type", "tool_use"}, {"id", toolUseId(content)}, {"name", call->name}, {"input", input}};
}

json messageShell(const ReplyContent &content)
{
    return {{"id", messageId(content)},
            {"type", "message"},
            {"role", "assistant"},
            {"model", content.model()},
            {"stop_sequence", nullptr}};
}

} // namespace

json AnthropicDialect::error(std::string_view type, std::string_view message)
{
    return json{{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
}

QByteArray AnthropicDialect::event(const char *name, const json &data)
{
    return QByteArray("event: ") + name + "\ndata: " + dumpJson(data) + "\n\n";
}

json AnthropicDialect::replyBody(const ReplyContent &content) const
{
    json body = messageShell(content);
    body["content"] = json::array({contentBlock(content, true)});
    body["stop_reason"] = stopReason(content);
    body["usage"] = {{"input_tokens", content.promptTokens()}, {"output_tokens", content.completionTokens()}};
    return body;
}

void AnthropicDialect::fillStream(StreamPlan &plan, const ReplyContent &content, bool) const
{
    json message = messageShell(content);
    message["content"] = json::array();
    message["stop_reason"] = nullptr;
    // As the API does: the input tokens up front, the output tokens (cumulative) in message_delta.
    message["usage"] = {{"input_tokens", content.promptTokens()}, {"output_tokens", 1}};
    plan.opening.push_back(
        event("message_start", {{"type", "message_start"}, {"message", std::move(message)}}));
    plan.opening.push_back(event(
        "content_block_start",
        {{"type", "content_block_start"}, {"index", 0}, {"content_block", contentBlock(content, false)}}));
    plan.opening.push_back(event("ping", {{"type", "ping"}}));
    const bool tool = content.toolCall().has_value();
    for (const std::string &piece : content.chunks()) {
        const json delta = tool ? json{{"type", "input_json_delta"}, {"partial_json", piece}}
                                : json{{"type", "text_delta"}, {"text", piece}};
        plan.deltas.push_back(
            event("content_block_delta", {{"type", "content_block_delta"}, {"index", 0}, {"delta", delta}}));
    }
    plan.closing.push_back(event("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}}));
    plan.closing.push_back(
        event("message_delta", {{"type", "message_delta"},
                                {"delta", {{"stop_reason", stopReason(content)}, {"stop_sequence", nullptr}}},
                                {"usage", {{"output_tokens", content.completionTokens()}}}}));
    plan.closing.push_back(event("message_stop", {{"type", "message_stop"}}));
    plan.errorEvent = event("error", error("overloaded_error", "Overloaded"));
}

void AnthropicDialect::appendRateLimitHeaders(QByteArray &headers, const OwnRateLimit::State &state) const
{
    // RFC 3339, whole seconds rounded up.
    const qint64 fullAtMs = QDateTime::currentMSecsSinceEpoch() + qint64(std::ceil(state.untilFullMs));
    const qint64 fullAtS = (fullAtMs + 999) / 1000;
    const QDateTime at = QDateTime::fromMSecsSinceEpoch(fullAtS * 1000, Qt::UTC);
    appendHeader(headers, "anthropic-ratelimit-requests-limit", QByteArray::number(state.limitPerMinute));
    appendHeader(headers, "anthropic-ratelimit-requests-remaining", QByteArray::number(state.remaining));
    appendHeader(headers, "anthropic-ratelimit-requests-reset", at.toString(Qt::ISODate).toLatin1());
}

json AnthropicDialect::authenticationError() const
{
    return error("authentication_error", "invalid x-api-key");
}

json AnthropicDialect::invalidRequest(std::string_view message) const
{
    return error("invalid_request_error", message);
}

json AnthropicDialect::ownRateLimited(qint64) const
{
    return error("rate_limit_error", "Rate limit reached for requests (simulated)");
}

json AnthropicDialect::scriptedRateLimited(std::string_view) const
{
    return error("rate_limit_error", "Simulated rate limit");
}

json AnthropicDialect::serverError(std::string_view) const
{
    return error("api_error", "Simulated server error");
}

json AnthropicDialect::scriptedClientError(std::string_view code) const
{
    return error(code.empty() ? std::string_view("invalid_request_error") : code, "Simulated client error");
}

} // namespace Sluice::Sim
