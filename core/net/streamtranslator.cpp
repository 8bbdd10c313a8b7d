#include "streamtranslator.h"

#include "net/dialect.h"

namespace Sluice {

namespace {

using OrderedJson = StreamAssembler::OrderedJson;
using Kind = StreamAssembler::Kind;

QByteArray dumped(const OrderedJson &value)
{
    const std::string text = value.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
    return QByteArray(text.data(), qsizetype(text.size()));
}

const OrderedJson *member(const OrderedJson &object, const char *key)
{
    if (!object.is_object()) {
        return nullptr;
    }
    const auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string stringOf(const OrderedJson &object, const char *key)
{
    const OrderedJson *value = member(object, key);
    return value && value->is_string() ? value->get<std::string>() : std::string();
}

} // namespace

StreamTranslator::StreamTranslator(Provider from, Provider to, bool includeUsage, qint64 createdS)
    : m_from(from)
    , m_to(to)
    , m_includeUsage(includeUsage)
    , m_createdS(createdS)
{
}

void StreamTranslator::appendEvent(QByteArray &out, QByteArrayView name, QByteArrayView data)
{
    if (!name.isEmpty()) {
        out += "event: ";
        out += name;
        out += '\n';
    }
    qsizetype start = 0;
    while (true) {
        const qsizetype end = data.indexOf('\n', start);
        out += "data: ";
        out += data.sliced(start, (end < 0 ? data.size() : end) - start);
        out += '\n';
        if (end < 0) {
            break;
        }
        start = end + 1;
    }
    out += '\n';
}

void StreamTranslator::take(Kind kind, const SseParser::Event &event, const StreamAssembler &assembler,
                            QByteArray &out)
{
    if (kind == Kind::Error || kind == Kind::Invalid || kind == Kind::Ignored) {
        return;
    }
    if (m_from == m_to) {
        passThrough(kind, event, assembler, out);
    } else if (m_to == Provider::Anthropic) {
        toAnthropic(kind, assembler, out);
    } else {
        toOpenAi(kind, assembler, out);
    }
}

void StreamTranslator::passThrough(Kind kind, const SseParser::Event &event, const StreamAssembler &assembler,
                                   QByteArray &out) const
{
    if (m_to == Provider::OpenAI && !m_includeUsage && kind == Kind::Closing) {
        // The usage chunk Sluice asked for and the caller did not: no choices, only usage.
        const OrderedJson *choices = member(assembler.lastEvent(), "choices");
        if (choices && choices->is_array() && choices->empty()) {
            return;
        }
    }
    QByteArray name = event.name;
    if (name.isEmpty() && m_to == Provider::Anthropic) {
        name = QByteArray::fromStdString(stringOf(assembler.lastEvent(), "type"));
    }
    appendEvent(out, name, event.data);
}

void StreamTranslator::anthropicEvent(const char *type, OrderedJson event, QByteArray &out) const
{
    OrderedJson full = {{"type", type}};
    for (auto it = event.begin(); it != event.end(); ++it) {
        full[it.key()] = std::move(it.value());
    }
    appendEvent(out, type, dumped(full));
}

void StreamTranslator::openBlock(const OrderedJson &block, bool tool, QByteArray &out)
{
    closeBlock(out);
    m_openBlock = m_blocks++;
    m_openIsTool = tool;
    anthropicEvent("content_block_start", {{"index", m_openBlock}, {"content_block", block}}, out);
}

void StreamTranslator::closeBlock(QByteArray &out)
{
    if (m_openBlock >= 0) {
        anthropicEvent("content_block_stop", {{"index", m_openBlock}}, out);
        m_openBlock = -1;
        m_openToolCall = -1;
    }
}

void StreamTranslator::toAnthropic(Kind kind, const StreamAssembler &assembler, QByteArray &out)
{
    const OrderedJson &chunk = assembler.lastEvent();
    if (!m_started) {
        m_started = true;
        std::string id = stringOf(chunk, "id");
        anthropicEvent("message_start",
                       {{"message",
                         {{"id", id},
                          {"type", "message"},
                          {"role", "assistant"},
                          {"model", stringOf(chunk, "model")},
                          {"content", OrderedJson::array()},
                          {"stop_reason", nullptr},
                          {"stop_sequence", nullptr},
                          {"usage", {{"input_tokens", 0}, {"output_tokens", 0}}}}}},
                       out);
    }
    if (kind == Kind::Done) {
        closeBlock(out);
        const nlohmann::json usage = Dialect::chatUsageToMessages(nlohmann::json(assembler.usage()));
        anthropicEvent(
            "message_delta",
            {{"delta", {{"stop_reason", Dialect::stopReasonFor(m_finishReason)}, {"stop_sequence", nullptr}}},
             {"usage", OrderedJson(usage)}},
            out);
        anthropicEvent("message_stop", OrderedJson::object(), out);
        return;
    }
    const OrderedJson *choices = member(chunk, "choices");
    if (!choices || !choices->is_array()) {
        return;
    }
    for (const OrderedJson &choice : *choices) {
        const OrderedJson *index = member(choice, "index");
        if (!index || (index->is_number_integer() && index->get<int>() == 0)) {
            toAnthropicChoice(choice, out); // one message: the first choice
        }
    }
}

void StreamTranslator::toAnthropicChoice(const OrderedJson &choice, QByteArray &out)
{
    if (const OrderedJson *finish = member(choice, "finish_reason"); finish && finish->is_string()) {
        m_finishReason = finish->get<std::string>();
    }
    const OrderedJson *delta = member(choice, "delta");
    if (!delta) {
        return;
    }
    if (const OrderedJson *text = member(*delta, "content"); text && text->is_string() && !text->empty()) {
        if (m_openBlock < 0 || m_openIsTool) {
            openBlock({{"type", "text"}, {"text", ""}}, false, out);
        }
        anthropicEvent("content_block_delta",
                       {{"index", m_openBlock}, {"delta", {{"type", "text_delta"}, {"text", *text}}}}, out);
    }
    const OrderedJson *calls = member(*delta, "tool_calls");
    if (!calls || !calls->is_array()) {
        return;
    }
    int position = 0;
    for (const OrderedJson &call : *calls) {
        const OrderedJson *indexField = member(call, "index");
        const int index = indexField && indexField->is_number_integer() ? indexField->get<int>() : position;
        ++position;
        const OrderedJson *function = member(call, "function");
        const bool starts = member(call, "id") || (function && !stringOf(*function, "name").empty());
        if (starts || !m_openIsTool || m_openToolCall != index) {
            openBlock({{"type", "tool_use"},
                       {"id", stringOf(call, "id")},
                       {"name", function ? stringOf(*function, "name") : std::string()},
                       {"input", OrderedJson::object()}},
                      true, out);
            m_openToolCall = index;
        }
        const std::string args = function ? stringOf(*function, "arguments") : std::string();
        if (!args.empty()) {
            anthropicEvent(
                "content_block_delta",
                {{"index", m_openBlock}, {"delta", {{"type", "input_json_delta"}, {"partial_json", args}}}},
                out);
        }
    }
}

void StreamTranslator::openAiChunk(OrderedJson delta, const OrderedJson &finishReason, QByteArray &out) const
{
    OrderedJson chunk = {
        {"id", m_id}, {"object", "chat.completion.chunk"}, {"created", m_createdS}, {"model", m_model}};
    chunk["choices"] = OrderedJson::array({{{"index", 0},
                                            {"delta", std::move(delta)},
                                            {"logprobs", nullptr},
                                            {"finish_reason", finishReason}}});
    if (m_includeUsage) {
        chunk["usage"] = nullptr;
    }
    appendEvent(out, QByteArrayView(), dumped(chunk));
}

void StreamTranslator::toOpenAi(Kind kind, const StreamAssembler &assembler, QByteArray &out)
{
    const OrderedJson &event = assembler.lastEvent();
    const std::string type = stringOf(event, "type");
    if (type == "message_start") {
        const OrderedJson *message = member(event, "message");
        m_id = message ? stringOf(*message, "id") : std::string();
        m_model = message ? stringOf(*message, "model") : std::string();
        m_started = true;
        openAiChunk({{"role", "assistant"}, {"content", ""}}, nullptr, out);
    } else if (type == "content_block_start") {
        const OrderedJson *block = member(event, "content_block");
        if (block && stringOf(*block, "type") == "tool_use") {
            const int call = int(m_toolOfBlock.size());
            const OrderedJson *index = member(event, "index");
            m_toolOfBlock[index && index->is_number_integer() ? index->get<int>() : -1] = call;
            openAiChunk({{"tool_calls",
                          OrderedJson::array(
                              {{{"index", call},
                                {"id", stringOf(*block, "id")},
                                {"type", "function"},
                                {"function", {{"name", stringOf(*block, "name")}, {"arguments", ""}}}}})}},
                        nullptr, out);
        }
    } else if (type == "content_block_delta" && kind == Kind::Content) {
        const OrderedJson *delta = member(event, "delta");
        const std::string deltaType = delta ? stringOf(*delta, "type") : std::string();
        const OrderedJson *index = member(event, "index");
        const auto call = m_toolOfBlock.find(index && index->is_number_integer() ? index->get<int>() : -1);
        if (deltaType == "text_delta") {
            openAiChunk({{"content", stringOf(*delta, "text")}}, nullptr, out);
        } else if (deltaType == "input_json_delta" && call != m_toolOfBlock.end()) {
            openAiChunk(
                {{"tool_calls",
                  OrderedJson::array({{{"index", call->second},
                                       {"function", {{"arguments", stringOf(*delta, "partial_json")}}}}})}},
                nullptr, out);
        }
    } else if (type == "message_delta") {
        const OrderedJson *delta = member(event, "delta");
        const std::string stop = delta ? stringOf(*delta, "stop_reason") : std::string();
        if (!stop.empty()) {
            openAiChunk(OrderedJson::object(), Dialect::finishReasonFor(stop), out);
        }
    } else if (kind == Kind::Done) {
        if (m_includeUsage) {
            OrderedJson chunk = {
                {"id", m_id},
                {"object", "chat.completion.chunk"},
                {"created", m_createdS},
                {"model", m_model},
                {"choices", OrderedJson::array()},
                {"usage", OrderedJson(Dialect::messagesUsageToChat(nlohmann::json(assembler.usage())))}};
            appendEvent(out, QByteArrayView(), dumped(chunk));
        }
        appendEvent(out, QByteArrayView(), "[DONE]");
    }
}

QByteArray StreamTranslator::errorEvent(Provider dialect, const nlohmann::json &errorBody)
{
    QByteArray out;
    const std::string text = errorBody.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    appendEvent(out, dialect == Provider::Anthropic ? QByteArrayView("error") : QByteArrayView(),
                QByteArrayView(text.data(), qsizetype(text.size())));
    return out;
}

namespace {

/// A whole chat.completion as chat.completion.chunk events: the message, the finish reason, the usage
/// chunk when asked, [DONE].
void appendChatCompletionEvents(QByteArray &out, const OrderedJson &r, bool includeUsage)
{
    const OrderedJson *choices = member(r, "choices");
    const OrderedJson choice =
        choices && choices->is_array() && !choices->empty() ? (*choices)[0] : OrderedJson();
    const OrderedJson *message = member(choice, "message");
    OrderedJson delta = {
        {"role", "assistant"},
        {"content", message && member(*message, "content") ? (*message)["content"] : OrderedJson()}};
    if (const OrderedJson *calls = message ? member(*message, "tool_calls") : nullptr;
        calls && calls->is_array()) {
        OrderedJson indexed = OrderedJson::array();
        for (std::size_t i = 0; i < calls->size(); ++i) {
            OrderedJson call = (*calls)[i];
            call["index"] = int(i);
            indexed.push_back(std::move(call));
        }
        delta["tool_calls"] = std::move(indexed);
    }
    OrderedJson chunk = {{"id", stringOf(r, "id")},
                         {"object", "chat.completion.chunk"},
                         {"created", r.value("created", OrderedJson(0))},
                         {"model", stringOf(r, "model")}};
    chunk["choices"] =
        OrderedJson::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", nullptr}}});
    StreamTranslator::appendEvent(out, QByteArrayView(), dumped(chunk));
    const OrderedJson *finish = member(choice, "finish_reason");
    chunk["choices"] = OrderedJson::array({{{"index", 0},
                                            {"delta", OrderedJson::object()},
                                            {"finish_reason", finish ? *finish : OrderedJson("stop")}}});
    StreamTranslator::appendEvent(out, QByteArrayView(), dumped(chunk));
    if (includeUsage && member(r, "usage")) {
        chunk["choices"] = OrderedJson::array();
        chunk["usage"] = r["usage"];
        StreamTranslator::appendEvent(out, QByteArrayView(), dumped(chunk));
    }
    StreamTranslator::appendEvent(out, QByteArrayView(), "[DONE]");
}

/// A whole Anthropic message as its stream: message_start, a start/delta/stop per content block,
/// message_delta with the stop reason and usage, message_stop.
void appendMessageEvents(QByteArray &out, const OrderedJson &r)
{
    OrderedJson start = r;
    start["content"] = OrderedJson::array();
    start["stop_reason"] = nullptr;
    start["stop_sequence"] = nullptr;
    const auto event = [&out](const char *type, OrderedJson data) {
        OrderedJson full = {{"type", type}};
        for (auto it = data.begin(); it != data.end(); ++it) {
            full[it.key()] = std::move(it.value());
        }
        StreamTranslator::appendEvent(out, type, dumped(full));
    };
    event("message_start", {{"message", std::move(start)}});
    const OrderedJson *content = member(r, "content");
    int index = 0;
    for (const OrderedJson &block : content && content->is_array() ? *content : OrderedJson::array()) {
        const std::string type = stringOf(block, "type");
        OrderedJson opening = block;
        OrderedJson delta;
        if (type == "text") {
            opening["text"] = "";
            delta = {{"type", "text_delta"}, {"text", stringOf(block, "text")}};
        } else if (type == "tool_use") {
            opening["input"] = OrderedJson::object();
            const OrderedJson *input = member(block, "input");
            delta = {{"type", "input_json_delta"},
                     {"partial_json", input ? input->dump() : std::string("{}")}};
        }
        event("content_block_start", {{"index", index}, {"content_block", std::move(opening)}});
        if (!delta.is_null()) {
            event("content_block_delta", {{"index", index}, {"delta", std::move(delta)}});
        }
        event("content_block_stop", {{"index", index}});
        ++index;
    }
    event("message_delta", {{"delta",
                             {{"stop_reason", r.value("stop_reason", OrderedJson("end_turn"))},
                              {"stop_sequence", r.value("stop_sequence", OrderedJson())}}},
                            {"usage", r.value("usage", OrderedJson::object())}});
    event("message_stop", OrderedJson::object());
}

} // namespace

QByteArray StreamTranslator::replyAsEvents(const nlohmann::json &reply, Provider dialect, bool includeUsage)
{
    const OrderedJson r(reply);
    QByteArray out;
    if (dialect == Provider::OpenAI) {
        appendChatCompletionEvents(out, r, includeUsage);
    } else {
        appendMessageEvents(out, r);
    }
    return out;
}

} // namespace Sluice
