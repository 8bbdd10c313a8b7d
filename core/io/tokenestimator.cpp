#include "tokenestimator.h"

#include <algorithm>
#include <cmath>

namespace Sluice {

namespace {

using json = nlohmann::json;

/// Bytes of text under `value`, skipping keys that are not text sent to the model.
double textBytes(const json &value, int depth = 0)
{
    if (depth > 64) {
        return 0;
    }
    switch (value.type()) {
    case json::value_t::string:
        return double(value.get_ref<const std::string &>().size());
    case json::value_t::array: {
        double n = 0;
        for (const json &item : value) {
            n += textBytes(item, depth + 1);
        }
        return n;
    }
    case json::value_t::object: {
        double n = 0;
        for (auto it = value.begin(); it != value.end(); ++it) {
            const std::string &key = it.key();
            if (key == "model" || key == "role" || key == "type" || key == "custom_id" || key == "method" ||
                key == "url" || key == "metadata" || key == "name") {
                continue;
            }
            n += textBytes(it.value(), depth + 1);
        }
        return n;
    }
    default:
        return 0;
    }
}

const json *requestBody(const json &input)
{
    for (const char *key : {"body", "params"}) {
        const auto it = input.find(key);
        if (it != input.end() && it->is_object()) {
            return &*it;
        }
    }
    return &input;
}

/// Bytes of `value` written as JSON (every key, string, number and bracket counted; escapes and
/// whitespace not), plus the image and message allowances of promptTokensUpperBound().
double jsonBytesBound(const json &value, int depth = 0)
{
    if (depth > 64) {
        return 0;
    }
    switch (value.type()) {
    case json::value_t::string:
        return double(value.get_ref<const std::string &>().size()) + 2;
    case json::value_t::array: {
        double n = 2;
        for (const json &item : value) {
            n += jsonBytesBound(item, depth + 1) + 1;
        }
        return n;
    }
    case json::value_t::object: {
        double n = 2;
        for (auto it = value.begin(); it != value.end(); ++it) {
            n += double(it.key().size()) + 4 + jsonBytesBound(it.value(), depth + 1);
        }
        const auto type = value.find("type");
        if (type != value.end() && type->is_string()) {
            const std::string &t = type->get_ref<const std::string &>();
            if (t.starts_with("image") || t == "input_image" || t == "document" || t == "input_file" ||
                t == "file") {
                n += TokenEstimator::TokensPerImage;
            }
        }
        return n;
    }
    default:
        return 24; // a number, true, false or null
    }
}

} // namespace

double TokenEstimator::promptTokensUpperBound(const json &input)
{
    if (!input.is_object()) {
        return 1;
    }
    const json &body = *requestBody(input);
    double bytes = 0;
    for (auto it = body.begin(); it != body.end(); ++it) {
        const std::string &key = it.key();
        if (key != "metadata" && key != "custom_id") {
            bytes += double(key.size()) + 4 + jsonBytesBound(it.value());
        }
    }
    double messages = 1;
    const auto list = body.find("messages");
    if (list != body.end() && list->is_array()) {
        messages += double(list->size());
    }
    return std::ceil(bytes) + TokensPerMessage * messages;
}

double TokenEstimator::promptTokens(const json &input)
{
    if (!input.is_object()) {
        return 1;
    }
    const json &body = *requestBody(input);
    double messages = 1;
    const auto it = body.find("messages");
    if (it != body.end() && it->is_array()) {
        messages = double(it->size());
    }
    double bytes = 0;
    for (const char *key : {"messages", "system", "input", "prompt", "tools"}) {
        const auto field = body.find(key);
        if (field != body.end()) {
            bytes += textBytes(*field);
        }
    }
    return std::ceil(bytes / 4.0) + 4.0 * messages;
}

double TokenEstimator::maxTokens(const json &input)
{
    if (!input.is_object()) {
        return -1;
    }
    const json &body = *requestBody(input);
    for (const char *key : {"max_tokens", "max_completion_tokens", "max_output_tokens"}) {
        const auto it = body.find(key);
        if (it != body.end() && it->is_number()) {
            const double v = it->get<double>();
            if (std::isfinite(v) && v > 0) {
                return std::min(v, 1e7);
            }
        }
    }
    return -1;
}

void TokenEstimator::observeOutput(double outputTokens)
{
    if (!(outputTokens >= 0) || !std::isfinite(outputTokens)) {
        return;
    }
    // Exponentially weighted mean and mean deviation (alpha 1/16), as TCP does for round-trip times.
    constexpr double Alpha = 1.0 / 16.0;
    if (m_seen == 0) {
        m_mean = outputTokens;
        m_deviation = outputTokens / 2;
    } else {
        m_deviation += Alpha * (std::abs(outputTokens - m_mean) - m_deviation);
        m_mean += Alpha * (outputTokens - m_mean);
    }
    ++m_seen;
}

double TokenEstimator::reserveOutput(double maxTokens) const
{
    const double cap = maxTokens > 0 ? maxTokens : DefaultOutputTokens;
    if (m_seen < WarmUp) {
        return cap;
    }
    return std::min(cap, std::ceil(m_mean + 2 * m_deviation) + 1);
}

double TokenEstimator::reserve(const json &input) const
{
    return promptTokens(input) + reserveOutput(maxTokens(input));
}

} // namespace Sluice
