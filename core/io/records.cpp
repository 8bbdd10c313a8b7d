#include "records.h"

#include <cmath>

namespace Sluice {

using json = nlohmann::json;

json Records::result(const QString &runId, const Request &request, json body, const Completion &completion)
{
    json response = {{"status_code", completion.status}, {"request_id", completion.requestId.toStdString()}};
    response["body"] = std::move(body);
    json record = {{"id", QString(runId + QLatin1Char('-') + QString::number(request.line)).toStdString()},
                   {"custom_id", request.customId.toStdString()},
                   {"line", request.line}};
    record["response"] = std::move(response);
    record["error"] = nullptr;
    record["endpoint"] = completion.endpoint.toStdString();
    record["attempts"] = completion.attempts;
    record["latency_ms"] = std::round(completion.latencyMs * 10.0) / 10.0;
    return record;
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
