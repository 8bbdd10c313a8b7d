#include "records.h"

#include <cmath>

namespace Sluice {

using json = nlohmann::json;

namespace {

/// `text` as a JSON string (escaped like every other record field: invalid UTF-8 replaced).
void appendString(std::string &out, const std::string &text)
{
    out += json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

/// A valid JSON text without the whitespace between its tokens (and without a UTF-8 byte order
/// mark, which the JSON parser skips too).
void appendCompact(std::string &out, QByteArrayView text)
{
    if (text.startsWith("\xEF\xBB\xBF")) {
        text = text.sliced(3);
    }
    bool inString = false;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (inString) {
            out += c;
            if (c == '\\' && i + 1 < text.size()) {
                out += text[++i];
            } else if (c == '"') {
                inString = false;
            }
        } else if (c == '"') {
            inString = true;
            out += c;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            out += c;
        }
    }
}

} // namespace

std::string Records::resultLine(const QString &runId, const Request &request, QByteArrayView bodyText,
                                const Completion &completion)
{
    std::string out;
    out.reserve(std::size_t(bodyText.size()) + 256);
    out += "{\"id\":";
    appendString(out, QString(runId + QLatin1Char('-') + QString::number(request.line)).toStdString());
    out += ",\"custom_id\":";
    appendString(out, request.customId.toStdString());
    out += ",\"line\":";
    out += std::to_string(request.line);
    out += ",\"response\":{\"status_code\":";
    out += std::to_string(completion.status);
    out += ",\"request_id\":";
    appendString(out, completion.requestId.toStdString());
    out += ",\"body\":";
    appendCompact(out, bodyText);
    out += "},\"error\":null,\"endpoint\":";
    appendString(out, completion.endpoint.toStdString());
    out += ",\"attempts\":";
    out += std::to_string(completion.attempts);
    out += ",\"latency_ms\":";
    out += json(std::round(completion.latencyMs * 10.0) / 10.0).dump();
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
