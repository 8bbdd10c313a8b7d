#include "openaidialect.h"

#include "sim/httpresponse.h"
#include "sim/replycontent.h"
#include "sim/streamplan.h"

#include <QDateTime>

#include <nlohmann/json.hpp>

#include <cmath>

namespace Sluice::Sim {

namespace {

using json = nlohmann::json;

std::string replyId(const ReplyContent &content)
{
    return "chatcmpl-sim-" + std::to_string(content.serial());
}

std::string callId(const ReplyContent &content)
{
    return "call_sim_" + std::to_string(content.serial());
}

json usageOf(const ReplyContent &content)
{
    return {{"prompt_tokens", content.promptTokens()},
            {"completion_tokens", content.completionTokens()},
            {"total_tokens", content.promptTokens() + content.completionTokens()}};
}

const char *finishReason(const ReplyContent &content)
{
    return content.toolCall() ? "tool_calls" : "stop";
}

QByteArray dataEvent(const json &data)
{
    return "data: " + dumpJson(data) + "\n\n";
}

} // namespace

json OpenAiDialect::error(std::string_view message, std::string_view type, std::string_view code)
{
    json error = {{"message", message}, {"type", type}, {"code", nullptr}};
    if (!code.empty())
        error["code"] = code;
    return json{{"error", std::move(error)}};
}

QByteArray OpenAiDialect::goDuration(double ms)
{
    qint64 total = static_cast<qint64>(std::ceil(ms));
    if (total <= 0)
        return QByteArrayLiteral("0s");
    if (total < 1000)
        return QByteArray::number(total) + "ms";
    QByteArray out;
    const qint64 hours = total / 3'600'000;
    total %= 3'600'000;
    const qint64 minutes = total / 60'000;
    total %= 60'000;
    if (hours > 0)
        out += QByteArray::number(hours) + 'h';
    if (hours > 0 || minutes > 0)
        out += QByteArray::number(minutes) + 'm';
    out += QByteArray::number(total / 1000);
    if (const qint64 frac = total % 1000; frac > 0) {
        QByteArray digits = QByteArray::number(frac).rightJustified(3, '0');
        while (digits.endsWith('0'))
            digits.chop(1);
        out += '.' + digits;
    }
    out += 's';
    return out;
}

json OpenAiDialect::replyBody(const ReplyContent &content) const
{
    json message = {{"role", "assistant"}, {"content", content.text()}};
    if (const auto &call = content.toolCall()) {
        message["content"] = nullptr;
        message["tool_calls"] =
            json::array({{{"id", callId(content)},
                          {"type", "function"},
                          {"function", {{"name", call->name}, {"arguments", call->arguments}}}}});
    }
    return {{"id", replyId(content)},
            {"object", "chat.completion"},
            {"created", QDateTime::currentSecsSinceEpoch()},
            {"model", content.model()},
            {"choices", json::array({{{"index", 0},
                                      {"message", std::move(message)},
                                      {"finish_reason", finishReason(content)}}})},
            {"usage", usageOf(content)}};
}

void OpenAiDialect::fillStream(StreamPlan &plan, const ReplyContent &content, bool includeUsage) const
{
    json chunk = {{"id", replyId(content)},
                  {"object", "chat.completion.chunk"},
                  {"created", QDateTime::currentSecsSinceEpoch()},
                  {"model", content.model()}};
    if (includeUsage)
        chunk["usage"] = nullptr; // every chunk but the last one, as OpenAI does
    const auto choiceEvent = [&chunk](json delta, const json &finish) {
        chunk["choices"] =
            json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", finish}}});
        return dataEvent(chunk);
    };
    const auto &call = content.toolCall();
    json first = {{"role", "assistant"}, {"content", call ? json(nullptr) : json("")}};
    if (call) {
        first["tool_calls"] = json::array({{{"index", 0},
                                            {"id", callId(content)},
                                            {"type", "function"},
                                            {"function", {{"name", call->name}, {"arguments", ""}}}}});
    }
    plan.opening.push_back(choiceEvent(std::move(first), nullptr));
    for (const std::string &piece : content.chunks()) {
        plan.deltas.push_back(
            call ? choiceEvent(
                       {{"tool_calls", json::array({{{"index", 0}, {"function", {{"arguments", piece}}}}})}},
                       nullptr)
                 : choiceEvent({{"content", piece}}, nullptr));
    }
    plan.closing.push_back(choiceEvent(json::object(), finishReason(content)));
    if (includeUsage) {
        chunk["choices"] = json::array();
        chunk["usage"] = usageOf(content);
        plan.closing.push_back(dataEvent(chunk));
    }
    plan.closing.push_back(QByteArrayLiteral("data: [DONE]\n\n"));
    json failure = error("Simulated error in the middle of the stream", "server_error", {});
    failure["error"]["param"] = nullptr;
    plan.errorEvent = dataEvent(failure);
}

void OpenAiDialect::appendRateLimitHeaders(QByteArray &headers, const OwnRateLimit::State &state) const
{
    appendHeader(headers, "x-ratelimit-limit-requests", QByteArray::number(state.limitPerMinute));
    appendHeader(headers, "x-ratelimit-remaining-requests", QByteArray::number(state.remaining));
    appendHeader(headers, "x-ratelimit-reset-requests", goDuration(state.untilFullMs));
}

json OpenAiDialect::authenticationError() const
{
    return error("Incorrect API key provided", "invalid_request_error", "invalid_api_key");
}

json OpenAiDialect::invalidRequest(std::string_view message) const
{
    return error(message, "invalid_request_error", {});
}

json OpenAiDialect::ownRateLimited(qint64 waitMs) const
{
    return error("Rate limit reached for requests (simulated). Please try again in " +
                     std::to_string(waitMs) + "ms.",
                 "requests", "rate_limit_exceeded");
}

json OpenAiDialect::scriptedRateLimited(std::string_view code) const
{
    const bool quota = code == "insufficient_quota";
    return error(quota ? "You exceeded your current quota (simulated)" : "Rate limit reached (simulated)",
                 quota ? "insufficient_quota" : "requests",
                 code.empty() ? std::string_view("rate_limit_exceeded") : code);
}

json OpenAiDialect::serverError(std::string_view code) const
{
    json body = error("Simulated server error", "server_error", code);
    if (code.empty())
        body["error"].erase("code");
    return body;
}

json OpenAiDialect::scriptedClientError(std::string_view code) const
{
    return error("Simulated client error", "invalid_request_error", code);
}

} // namespace Sluice::Sim
