#include "records.h"

#include <algorithm>
#include <cmath>

namespace Sluice {

using json = nlohmann::json;

namespace {

/// `text` as a JSON string. A QString always converts to valid UTF-8, so only the quote, the
/// backslash and control characters need escaping.
void appendString(std::string &out, QStringView text)
{
    const QByteArray utf8 = text.toUtf8();
    out += '"';
    const char *run = utf8.constData();
    const char *const end = run + utf8.size();
    for (const char *p = run; p < end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        out.append(run, std::size_t(p - run));
        run = p + 1;
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default: {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
        }
    }
    out.append(run, std::size_t(end - run));
    out += '"';
}

/// A valid JSON text without the whitespace between its tokens (and without a UTF-8 byte order
/// mark, which the JSON parser skips too), copied a run of bytes at a time.
void appendCompact(std::string &out, QByteArrayView text)
{
    if (text.startsWith("\xEF\xBB\xBF")) {
        text = text.sliced(3);
    }
    const char *p = text.data();
    const char *const end = p + text.size();
    const char *run = p;
    while (p < end) {
        const char c = *p;
        if (c == '"') {
            for (++p; p < end && *p != '"'; ++p) {
                if (*p == '\\') {
                    ++p; // the escaped character, a quote perhaps
                }
            }
            ++p; // the closing quote
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            out.append(run, std::size_t(p - run));
            run = ++p;
        } else {
            ++p;
        }
    }
    out.append(run, std::size_t(std::min(p, end) - run));
}

} // namespace

std::string Records::resultLine(const QString &runId, const Request &request, QByteArrayView bodyText,
                                const Completion &completion)
{
    std::string out;
    out.reserve(std::size_t(bodyText.size()) + 256);
    out += "{\"id\":";
    appendString(out, QString(runId + QLatin1Char('-') + QString::number(request.line)));
    out += ",\"custom_id\":";
    appendString(out, request.customId);
    out += ",\"line\":";
    out += std::to_string(request.line);
    out += ",\"response\":{\"status_code\":";
    out += std::to_string(completion.status);
    out += ",\"request_id\":";
    appendString(out, completion.requestId);
    out += ",\"body\":";
    appendCompact(out, bodyText);
    out += "},\"error\":null,\"endpoint\":";
    appendString(out, completion.endpoint);
    out += ",\"attempts\":";
    out += std::to_string(completion.attempts);
    out += ",\"latency_ms\":";
    out += json(std::round(completion.latencyMs * 10.0) / 10.0).dump();
    out += ",\"ttft_ms\":";
    out += completion.ttftMs < 0 ? "null" : json(std::round(completion.ttftMs * 10.0) / 10.0).dump();
    out += ",\"output_tokens_per_s\":";
    out += completion.outputTokensPerS < 0
               ? "null"
               : json(std::round(completion.outputTokensPerS * 10.0) / 10.0).dump();
    out += ",\"cost_usd\":";
    out += completion.costUsd < 0 ? "null" : json(std::round(completion.costUsd * 1e8) / 1e8).dump();
    // The line's own metadata comes back with its result (the OpenAI cookbook's convention), so
    // results can be joined back to the data they came from.
    if (request.input.is_object()) {
        const auto metadata = request.input.find("metadata");
        if (metadata != request.input.end() && metadata->is_object()) {
            out += ",\"metadata\":";
            out += metadata->dump(-1, ' ', false, json::error_handler_t::replace);
        }
    }
    out += '}';
    return out;
}

json Records::error(const Request &request, ErrorClass cls, const QString &message,
                    const Completion &completion)
{
    json record = {{"custom_id", request.customId.toStdString()}, {"line", request.line}};
    record["input"] = request.input;
    record["error"] = message.toStdString();
    record["error_class"] = toString(cls).toStdString();
    record["status"] = completion.status == 0 ? json(nullptr) : json(completion.status);
    record["attempts"] = completion.attempts;
    record["endpoint"] =
        completion.endpoint.isEmpty() ? json(nullptr) : json(completion.endpoint.toStdString());
    return record;
}

json Records::inputError(const InputError &error)
{
    json record = {{"custom_id", error.customId.toStdString()}, {"line", error.line}};
    record["input"] = error.input;
    record["error"] = error.message.toStdString();
    record["error_class"] = toString(error.cls).toStdString();
    record["status"] = nullptr;
    record["attempts"] = 0;
    record["endpoint"] = nullptr;
    return record;
}

} // namespace Sluice
