#pragma once

#include "config/projectconfig.h"
#include "net/sseparser.h"

#include <QByteArray>
#include <QString>

#include <nlohmann/json.hpp>

#include <map>
#include <string>

namespace Sluice {

/// Builds one reply out of a streamed (SSE) reply's events, event by event: an OpenAI
/// `chat.completion` out of `chat.completion.chunk` events (text, refusal, reasoning, tool calls by
/// index, finish_reason, logprobs, the `usage` chunk of `stream_options.include_usage`), or an
/// Anthropic `message` out of the Messages events (message_start, content_block_start / _delta /
/// _stop with text, tool input JSON, thinking, signatures and citations, message_delta, message_stop;
/// ping and unknown event types are skipped). The result is what the same call would have returned
/// unstreamed, with its `usage` exactly as the stream reported it (every field kept, e.g.
/// `prompt_tokens_details`, `cache_read_input_tokens`), in the server's key order.
///
/// It also says how the stream ended: `[DONE]` / message_stop (isDone), an error event (hasError:
/// the error object, in the dialect's error-body shape), or an event that makes no sense (isInvalid:
/// data that is not JSON, a delta for a block never started, tool input that is not JSON). A stream
/// that simply stops has none of these: the caller knows it was cut.
///
/// Stateless between replies; one per attempt; any thread.
class StreamAssembler
{
public:
    using OrderedJson = nlohmann::ordered_json;

    /// What an event was, for timing (Content) and for translation.
    enum class Kind {
        Opening, ///< metadata before or between content (role, message_start, a block's start)
        Content, ///< carries generated content (text, tool arguments, reasoning): the clock of TTFT/ITL
        Closing, ///< finish / stop reason, usage, a block's end
        Ping,    ///< keep-alive
        Done,    ///< the end: `[DONE]` / message_stop
        Error,   ///< an error event (the stream failed)
        Ignored, ///< an event of a type this does not know (skipped)
        Invalid, ///< makes no sense (the stream failed)
    };

    explicit StreamAssembler(Provider dialect);

    Provider dialect() const { return m_dialect; }
    /// Takes the next event.
    Kind take(const SseParser::Event &event);
    /// The parsed data of the last event taken (null for `[DONE]` and events that were not JSON).
    const OrderedJson &lastEvent() const { return m_event; }

    bool isDone() const { return m_done; }
    bool hasError() const { return !m_error.is_null(); }
    bool isInvalid() const { return !m_invalid.isEmpty(); }
    QString invalidReason() const { return m_invalid; }
    /// The error event's data: `{"error": {...}}` (OpenAI) or `{"type": "error", "error": {...}}`.
    const OrderedJson &errorBody() const { return m_error; }
    /// Events that carried content so far.
    int contentEvents() const { return m_contentEvents; }

    /// The reply assembled from the events so far, serialized (invalid UTF-8 replaced): the whole
    /// reply once isDone().
    QByteArray body() const;
    /// The `usage` object the stream reported so far (merged over message_start and message_delta for
    /// Anthropic); null when none yet.
    OrderedJson usage() const;

private:
    struct ToolCall
    {
        OrderedJson id;
        std::string type = "function";
        std::string name;
        std::string arguments;
    };
    struct Choice
    {
        std::string role = "assistant";
        std::string text;
        bool textSeen = false;
        std::string refusal;
        bool refusalSeen = false;
        std::string reasoning;
        std::string reasoningKey; ///< the server's name for it ("reasoning_content", "reasoning")
        std::map<int, ToolCall> calls;
        OrderedJson finishReason;
        OrderedJson logprobs; ///< logprobs.content items, concatenated (null when none)
    };

    Kind takeOpenAi(const SseParser::Event &event);
    bool takeOpenAiChoice(const OrderedJson &choice);
    Kind takeAnthropic(const SseParser::Event &event);
    Kind takeAnthropicDelta();
    Kind invalid(const QString &reason);
    OrderedJson openAiBody() const;
    OrderedJson anthropicBody() const;
    /// A block with its tool input parsed from the input_json_delta pieces (when it had any).
    OrderedJson finishedBlock(int index, bool *ok) const;

    Provider m_dialect;
    OrderedJson m_event;
    OrderedJson m_error;
    QString m_invalid;
    bool m_done = false;
    int m_contentEvents = 0;
    // OpenAI
    OrderedJson m_meta = OrderedJson::object(); ///< id, created, model, system_fingerprint, service_tier
    std::map<int, Choice> m_choices;
    OrderedJson m_usage;
    // Anthropic
    OrderedJson m_message;                   ///< message_start's message, updated by message_delta
    std::map<int, OrderedJson> m_blocks;     ///< content blocks by index
    std::map<int, std::string> m_toolInputs; ///< input_json_delta pieces by block index
};

} // namespace Sluice
