#pragma once

#include "config/projectconfig.h"
#include "net/sseparser.h"
#include "net/streamassembler.h"

#include <QByteArray>

#include <map>
#include <string>

namespace Sluice {

/// Writes a streamed reply's events for a caller of dialect `to` as they come from an upstream of
/// dialect `from` (the gateway's SSE pass-through): the same dialect passes each event through as it
/// came; across dialects each event becomes the other dialect's (OpenAI chunks ↔ Anthropic Messages
/// events: text, tool calls with their argument pieces, the finish/stop reason and usage with
/// Dialect's tables; Anthropic thinking is dropped, as in whole-reply translation).
///
/// Error events and invalid events are never written: a failed stream's end is the gateway's to write
/// (an error event in the caller's dialect). An OpenAI caller gets the usage chunk only when it asked
/// (`stream_options.include_usage`); upstream it is always asked for. Each event is written as a
/// complete SSE event ("event: ...\\ndata: ...\\n\\n"). One per attempt; any thread.
class StreamTranslator
{
public:
    /// `createdS`: the `created` of chunks made from Anthropic events (seconds since the epoch).
    StreamTranslator(Provider from, Provider to, bool includeUsage, qint64 createdS);

    /// Appends to `out` what the caller gets for `event`, which `assembler` has just taken as `kind`.
    void take(StreamAssembler::Kind kind, const SseParser::Event &event, const StreamAssembler &assembler,
              QByteArray &out);

    /// A whole reply of `dialect` written as the events a stream of it would have sent (one content
    /// event per text or tool block), for a streaming caller whose upstream answered unstreamed.
    /// `includeUsage`: an OpenAI caller's usage chunk.
    static QByteArray replyAsEvents(const nlohmann::json &reply, Provider dialect, bool includeUsage);
    /// An error event in `dialect` with `errorBody` (an error body of that dialect): OpenAI
    /// `data: {"error": ...}`, Anthropic `event: error`.
    static QByteArray errorEvent(Provider dialect, const nlohmann::json &errorBody);
    /// An SSE event (data split into `data:` lines), named when `name` is not empty.
    static void appendEvent(QByteArray &out, QByteArrayView name, QByteArrayView data);

private:
    using OrderedJson = StreamAssembler::OrderedJson;

    void passThrough(StreamAssembler::Kind kind, const SseParser::Event &event,
                     const StreamAssembler &assembler, QByteArray &out) const;
    void toAnthropic(StreamAssembler::Kind kind, const StreamAssembler &assembler, QByteArray &out);
    void toAnthropicChoice(const OrderedJson &choice, QByteArray &out);
    void toOpenAi(StreamAssembler::Kind kind, const StreamAssembler &assembler, QByteArray &out);
    void openBlock(const OrderedJson &block, bool tool, QByteArray &out);
    void closeBlock(QByteArray &out);
    void anthropicEvent(const char *type, OrderedJson event, QByteArray &out) const;
    void openAiChunk(OrderedJson delta, const OrderedJson &finishReason, QByteArray &out) const;

    Provider m_from;
    Provider m_to;
    bool m_includeUsage;
    qint64 m_createdS;
    bool m_started = false;
    // OpenAI → Anthropic
    int m_blocks = 0;     ///< blocks started
    int m_openBlock = -1; ///< the block open now, -1 none
    bool m_openIsTool = false;
    int m_openToolCall = -1; ///< the OpenAI tool call index of the open tool block
    std::string m_finishReason = "stop";
    // Anthropic → OpenAI
    std::string m_id;
    std::string m_model;
    std::map<int, int> m_toolOfBlock; ///< Anthropic block index → OpenAI tool call index
};

} // namespace Sluice
