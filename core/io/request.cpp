#include "request.h"

namespace Sluice {

QString toString(InputFormat format)
{
    switch (format) {
    case InputFormat::OpenAIBatch:
        return QStringLiteral("openai_batch");
    case InputFormat::AnthropicBatch:
        return QStringLiteral("anthropic_batch");
    case InputFormat::ChatBody:
        return QStringLiteral("chat_body");
    case InputFormat::Prompt:
        return QStringLiteral("prompt");
    }
    return QString();
}

const nlohmann::json &Request::body() const
{
    const char *key = format == InputFormat::OpenAIBatch      ? "body"
                      : format == InputFormat::AnthropicBatch ? "params"
                                                              : nullptr;
    if (key && input.is_object()) {
        const auto it = input.find(key);
        if (it != input.end() && it->is_object()) {
            return *it;
        }
    }
    return input;
}

std::string_view Request::model() const
{
    const nlohmann::json &b = body();
    if (!b.is_object()) {
        return {};
    }
    const auto it = b.find("model");
    return it != b.end() && it->is_string() ? std::string_view(it->get_ref<const std::string &>())
                                            : std::string_view();
}

} // namespace Sluice
