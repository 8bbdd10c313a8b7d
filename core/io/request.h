#pragma once

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QString>

#include <nlohmann/json.hpp>

#include <memory>
#include <string_view>

namespace Sluice {

class StreamRelay; // core/net: a gateway caller's stream (io only carries the pointer)

/// Shape of an input line, detected per line.
enum class InputFormat {
    OpenAIBatch,    ///< {"custom_id", "method", "url", "body"}
    AnthropicBatch, ///< {"custom_id", "params"} (params in Anthropic Messages shape)
    ChatBody,       ///< a bare request body {"model"?, "messages", ..., "metadata"?}
    Prompt,         ///< {"input": "text"}, sent as one user message
};

QString toString(InputFormat format);

/// One request read from the input file. Holds the parsed line; the body to send is derived from it
/// by the provider adapter, so each request is stored once.
struct Request
{
    QString customId; ///< from the line, or "line-N"
    qint64 line = 0;  ///< 1-based line number in the input file
    InputFormat format = InputFormat::ChatBody;
    nlohmann::json input; ///< the whole parsed line, as read
    /// The request body exactly as the line wrote it (OpenAI Batch "body", Anthropic batch "params",
    /// or a whole bare chat body without "metadata" and "custom_id"); empty for prompts and when it
    /// cannot be cut out unambiguously (a key written with escapes, a repeated key). Sent as is when
    /// the endpoint needs nothing changed in it (ProviderAdapter::requestBody), instead of serializing
    /// the parsed body again.
    QByteArray bodyText;
    /// The gateway's caller's own API key, sent instead of the endpoint's to endpoints configured with
    /// forward_caller_key; empty otherwise (and always for file runs). Never written anywhere.
    QByteArray callerKey;
    /// Extra headers for the upstream request, from a gateway caller (`anthropic-beta`,
    /// `OpenAI-Organization`, `OpenAI-Project`): a name starting with `anthropic-` goes only to
    /// Anthropic endpoints, one starting with `openai-` (any case) only to OpenAI ones. Empty for file runs.
    QList<QPair<QByteArray, QByteArray>> forwardHeaders;
    /// A gateway caller that asked for a stream: the transport writes the reply's events there as
    /// they arrive. Null for file runs.
    std::shared_ptr<StreamRelay> streamRelay;

    /// The request body inside the line: OpenAI Batch "body", Anthropic batch "params", else the line.
    const nlohmann::json &body() const;
    /// The model the line names; empty when it names none (or not as a string). No copy is made.
    std::string_view model() const;
};

} // namespace Sluice
