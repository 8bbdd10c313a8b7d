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

} // namespace Sluice
