#pragma once

#include "config/projectconfig.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace Sluice {

/// Translation between the two API dialects Sluice speaks: OpenAI Chat Completions and Anthropic
/// Messages (the dialect is named by Provider). Pure functions of JSON values, no state, never throw
/// (what cannot be translated is dropped, never guessed).
///
/// Requests (used by ProviderAdapter for every run and for the gateway): system prompts, text and
/// image content, tool definitions, tool choice, assistant tool calls and tool results, stop
/// sequences, token caps and sampling settings. Replies (used by the gateway, where the caller's
/// dialect decides the shape of everything it gets back): text, tool calls, finish/stop reasons and
/// usage. Errors: an upstream error body of either dialect read into ApiError, and written in the
/// caller's. Streamed replies are translated event by event by StreamTranslator, with the same
/// stop-reason and usage tables.
class Dialect
{
public:
    /// An API error, whichever dialect it came in.
    struct ApiError
    {
        int status = 500;
        std::string type; ///< the dialect's error type ("invalid_request_error", ...); may be empty
        std::string message;
        nlohmann::json code = nullptr;  ///< OpenAI's `code` (e.g. "insufficient_quota"), null when none
        nlohmann::json param = nullptr; ///< OpenAI's `param`, null when none
    };

    /// An OpenAI chat-completions body as an Anthropic Messages body (`max_tokens` defaulted to
    /// `defaultMaxTokens` when the body has neither max_tokens nor max_completion_tokens).
    static nlohmann::json chatToMessages(nlohmann::json body, int defaultMaxTokens);
    /// An Anthropic Messages body as an OpenAI chat-completions body.
    static nlohmann::json messagesToChat(nlohmann::json body);

    /// An Anthropic Messages reply (2xx body) as an OpenAI `chat.completion` object. `createdS`: the
    /// `created` field (seconds since the epoch; Anthropic replies carry no time).
    static nlohmann::json messagesReplyToChat(const nlohmann::json &reply, qint64 createdS);
    /// The same as messagesReplyToChat(), as JSON text written directly (no document built): the
    /// gateway's path for every OpenAI caller answered by an Anthropic endpoint.
    static std::string messagesReplyToChatText(const nlohmann::json &reply, qint64 createdS);
    /// An OpenAI `chat.completion` reply as an Anthropic `message` object (the first choice).
    static nlohmann::json chatReplyToMessages(const nlohmann::json &reply);
    /// A reply (2xx body) of dialect `from` in dialect `to` (unchanged when they are the same).
    static nlohmann::json translateReply(const nlohmann::json &reply, Provider from, Provider to,
                                         qint64 createdS);

    /// An Anthropic `usage` object as OpenAI's (cache reads and writes counted in `prompt_tokens`, reads
    /// also as `prompt_tokens_details.cached_tokens`), and an OpenAI one as Anthropic's (cached tokens as
    /// `cache_read_input_tokens`), as the reply translations do. Non-objects read as no usage.
    static nlohmann::json messagesUsageToChat(const nlohmann::json &usage);
    static nlohmann::json chatUsageToMessages(const nlohmann::json &usage);

    /// Anthropic stop_reason → OpenAI finish_reason, and back.
    static std::string finishReasonFor(std::string_view stopReason);
    static std::string stopReasonFor(std::string_view finishReason);

    /// Reads an error body of either dialect (anything else: the status and an empty message).
    static ApiError readError(const nlohmann::json &body, int status);
    /// An error body in `dialect`: OpenAI `{"error": {message, type, param, code}}`, Anthropic
    /// `{"type": "error", "error": {type, message}}`. A type of the other dialect is mapped by the
    /// status (and the OpenAI code).
    static nlohmann::json errorBody(Provider dialect, const ApiError &error);
    /// The error type each dialect uses for `status` (OpenAI: also by `code`, e.g. insufficient_quota).
    static std::string anthropicErrorType(int status);
    static std::string openAiErrorType(int status, const nlohmann::json &code);
};

} // namespace Sluice
