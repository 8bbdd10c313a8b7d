#include "streamassembler.h"

namespace Sluice {

namespace {

using OrderedJson = StreamAssembler::OrderedJson;

/// Events are small; anything deeper than this is not an LLM reply.
constexpr int MaxDepth = 64;

const OrderedJson *member(const OrderedJson &object, const char *key)
{
    if (!object.is_object()) {
        return nullptr;
    }
    const auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
}

const std::string *stringMember(const OrderedJson &object, const char *key)
{
    const OrderedJson *value = member(object, key);
    return value && value->is_string() ? &value->get_ref<const std::string &>() : nullptr;
}

int indexOf(const OrderedJson &object, int fallback)
{
    const OrderedJson *value = member(object, "index");
    return value && value->is_number_integer() ? value->get<int>() : fallback;
}

/// Parses an event's data, refusing deep nesting before building anything.
bool parseData(const QByteArray &data, OrderedJson &out)
{
    int depth = 0;
    bool inString = false;
    for (qsizetype i = 0; i < data.size(); ++i) {
        const char c = data[i];
        if (inString) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                inString = false;
            }
        } else if (c == '"') {
            inString = true;
        } else if ((c == '{' || c == '[') && ++depth > MaxDepth) {
            return false;
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    out = OrderedJson::parse(data.constData(), data.constData() + data.size(), nullptr, false);
    return !out.is_discarded();
}

} // namespace

StreamAssembler::StreamAssembler(Provider dialect)
    : m_dialect(dialect)
{
}

StreamAssembler::Kind StreamAssembler::invalid(const QString &reason)
{
    if (m_invalid.isEmpty()) {
        m_invalid = reason;
    }
    return Kind::Invalid;
}

StreamAssembler::Kind StreamAssembler::take(const SseParser::Event &event)
{
    if (m_done || hasError() || isInvalid()) {
        return Kind::Ignored; // nothing counts after the end
    }
    const Kind kind = m_dialect == Provider::Anthropic ? takeAnthropic(event) : takeOpenAi(event);
    if (kind == Kind::Content) {
        ++m_contentEvents;
    }
    return kind;
}

StreamAssembler::Kind StreamAssembler::takeOpenAi(const SseParser::Event &event)
{
    if (event.data == "[DONE]") {
        m_event = nullptr;
        m_done = true;
        return Kind::Done;
    }
    if (!parseData(event.data, m_event) || !m_event.is_object()) {
        m_event = nullptr;
        return invalid(QStringLiteral("an event's data is not a JSON object"));
    }
    if (event.name == "error" || m_event.contains("error")) {
        m_error = m_event.contains("error") ? m_event : OrderedJson{{"error", m_event}};
        return Kind::Error;
    }
    for (const char *key : {"id", "created", "model", "system_fingerprint", "service_tier"}) {
        const OrderedJson *value = member(m_event, key);
        if (value && !value->is_null() && !m_meta.contains(key)) {
            m_meta[key] = *value;
        }
    }
    bool content = false;
    bool closing = false;
    if (const OrderedJson *usage = member(m_event, "usage"); usage && usage->is_object()) {
        m_usage = *usage;
        closing = true;
    }
    if (const OrderedJson *choices = member(m_event, "choices"); choices && choices->is_array()) {
        for (const OrderedJson &choice : *choices) {
            if (!choice.is_object()) {
                return invalid(QStringLiteral("a chunk's choice is not an object"));
            }
            content = takeOpenAiChoice(choice) || content;
            const OrderedJson *finish = member(choice, "finish_reason");
            closing = closing || (finish && !finish->is_null());
        }
    }
    return content ? Kind::Content : closing ? Kind::Closing : Kind::Opening;
}

bool StreamAssembler::takeOpenAiChoice(const OrderedJson &choice)
{
    Choice &c = m_choices[indexOf(choice, 0)];
    bool content = false;
    if (const OrderedJson *finish = member(choice, "finish_reason"); finish && !finish->is_null()) {
        c.finishReason = *finish;
    }
    if (const OrderedJson *logprobs = member(choice, "logprobs")) {
        if (const OrderedJson *items = member(*logprobs, "content"); items && items->is_array()) {
            if (c.logprobs.is_null()) {
                c.logprobs = OrderedJson::array();
            }
            c.logprobs.insert(c.logprobs.end(), items->begin(), items->end());
        }
    }
    const OrderedJson *delta = member(choice, "delta");
    if (!delta || !delta->is_object()) {
        return false;
    }
    if (const std::string *role = stringMember(*delta, "role")) {
        c.role = *role;
    }
    if (const std::string *text = stringMember(*delta, "content")) {
        c.text += *text;
        c.textSeen = true;
        content = content || !text->empty();
    }
    if (const std::string *refusal = stringMember(*delta, "refusal")) {
        c.refusal += *refusal;
        c.refusalSeen = true;
        content = content || !refusal->empty();
    }
    for (const char *key : {"reasoning_content", "reasoning"}) {
        if (const std::string *reasoning = stringMember(*delta, key)) {
            c.reasoning += *reasoning;
            c.reasoningKey = key;
            content = content || !reasoning->empty();
        }
    }
    if (const OrderedJson *calls = member(*delta, "tool_calls"); calls && calls->is_array()) {
        int position = 0;
        for (const OrderedJson &call : *calls) {
            ToolCall &t = c.calls[indexOf(call, position++)];
            if (const OrderedJson *id = member(call, "id"); id && !id->is_null()) {
                t.id = *id;
            }
            if (const std::string *type = stringMember(call, "type")) {
                t.type = *type;
            }
            const OrderedJson *function = member(call, "function");
            if (const std::string *name = function ? stringMember(*function, "name") : nullptr) {
                t.name += *name;
            }
            if (const std::string *args = function ? stringMember(*function, "arguments") : nullptr) {
                t.arguments += *args;
                content = content || !args->empty();
            }
        }
    }
    return content;
}

StreamAssembler::Kind StreamAssembler::takeAnthropic(const SseParser::Event &event)
{
    if (!parseData(event.data, m_event) || !m_event.is_object()) {
        m_event = nullptr;
        return invalid(QStringLiteral("an event's data is not a JSON object"));
    }
    const std::string *typeField = stringMember(m_event, "type");
    const std::string type = !event.name.isEmpty() ? event.name.toStdString()
                             : typeField           ? *typeField
                                                   : std::string();
    if (type == "error") {
        m_error = m_event.contains("error") ? m_event : OrderedJson{{"type", "error"}, {"error", m_event}};
        return Kind::Error;
    }
    if (type == "ping") {
        return Kind::Ping;
    }
    if (type == "message_start") {
        const OrderedJson *message = member(m_event, "message");
        if (!message || !message->is_object()) {
            return invalid(QStringLiteral("message_start without a message"));
        }
        m_message = *message;
        return Kind::Opening;
    }
    if (m_message.is_null() && type.rfind("message", 0) != 0 && type.rfind("content_block", 0) != 0) {
        return Kind::Ignored; // an event type this does not know
    }
    if (m_message.is_null()) {
        return invalid(QStringLiteral("%1 before message_start").arg(QString::fromStdString(type)));
    }
    if (type == "content_block_start") {
        const OrderedJson *block = member(m_event, "content_block");
        if (!block || !block->is_object()) {
            return invalid(QStringLiteral("content_block_start without a content_block"));
        }
        m_blocks[indexOf(m_event, int(m_blocks.size()))] = *block;
        return Kind::Opening;
    }
    if (type == "content_block_delta") {
        return takeAnthropicDelta();
    }
    if (type == "content_block_stop") {
        bool ok = true;
        const int index = indexOf(m_event, -1);
        if (!m_blocks.count(index)) {
            return invalid(QStringLiteral("content_block_stop for a block never started"));
        }
        m_blocks[index] = finishedBlock(index, &ok);
        m_toolInputs.erase(index);
        return ok ? Kind::Closing : invalid(QStringLiteral("a tool's input is not a JSON object"));
    }
    if (type == "message_delta") {
        if (const OrderedJson *delta = member(m_event, "delta"); delta && delta->is_object()) {
            for (auto it = delta->begin(); it != delta->end(); ++it) {
                m_message[it.key()] = it.value();
            }
        }
        if (const OrderedJson *usage = member(m_event, "usage"); usage && usage->is_object()) {
            if (!m_message["usage"].is_object()) {
                m_message["usage"] = OrderedJson::object();
            }
            for (auto it = usage->begin(); it != usage->end(); ++it) {
                if (!it.value().is_null()) {
                    m_message["usage"][it.key()] = it.value();
                }
            }
        }
        return Kind::Closing;
    }
    if (type == "message_stop") {
        m_done = true;
        return Kind::Done;
    }
    return Kind::Ignored;
}

StreamAssembler::Kind StreamAssembler::takeAnthropicDelta()
{
    const int index = indexOf(m_event, -1);
    const auto block = m_blocks.find(index);
    if (block == m_blocks.end()) {
        return invalid(QStringLiteral("content_block_delta for a block never started"));
    }
    const OrderedJson *delta = member(m_event, "delta");
    const std::string *type = delta ? stringMember(*delta, "type") : nullptr;
    if (!type) {
        return invalid(QStringLiteral("content_block_delta without a delta type"));
    }
    const auto append = [&](const char *from, const char *to) {
        const std::string *piece = stringMember(*delta, from);
        if (!piece) {
            return false;
        }
        OrderedJson &field = block->second[to];
        field = (field.is_string() ? field.get<std::string>() : std::string()) + *piece;
        return !piece->empty();
    };
    if (*type == "text_delta") {
        return append("text", "text") ? Kind::Content : Kind::Opening;
    }
    if (*type == "thinking_delta") {
        return append("thinking", "thinking") ? Kind::Content : Kind::Opening;
    }
    if (*type == "input_json_delta") {
        const std::string *piece = stringMember(*delta, "partial_json");
        m_toolInputs[index] += piece ? *piece : std::string();
        return piece && !piece->empty() ? Kind::Content : Kind::Opening;
    }
    if (*type == "signature_delta") {
        if (const std::string *signature = stringMember(*delta, "signature")) {
            block->second["signature"] = *signature;
        }
        return Kind::Opening;
    }
    if (*type == "citations_delta") {
        if (const OrderedJson *citation = member(*delta, "citation")) {
            OrderedJson &citations = block->second["citations"];
            if (!citations.is_array()) {
                citations = OrderedJson::array();
            }
            citations.push_back(*citation);
        }
        return Kind::Opening;
    }
    return Kind::Ignored;
}

OrderedJson StreamAssembler::finishedBlock(int index, bool *ok) const
{
    OrderedJson block = m_blocks.at(index);
    const auto input = m_toolInputs.find(index);
    if (input == m_toolInputs.end()) {
        return block;
    }
    if (input->second.empty()) {
        block["input"] = OrderedJson::object();
        return block;
    }
    OrderedJson parsed = OrderedJson::parse(input->second, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        *ok = false;
        return block;
    }
    block["input"] = std::move(parsed);
    return block;
}

OrderedJson StreamAssembler::usage() const
{
    if (m_dialect == Provider::Anthropic) {
        const OrderedJson *u = member(m_message, "usage");
        return u && u->is_object() ? *u : OrderedJson();
    }
    return m_usage;
}

QByteArray StreamAssembler::body() const
{
    const OrderedJson reply = m_dialect == Provider::Anthropic ? anthropicBody() : openAiBody();
    const std::string text = reply.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
    return QByteArray(text.data(), qsizetype(text.size()));
}

OrderedJson StreamAssembler::openAiBody() const
{
    OrderedJson reply = OrderedJson::object();
    reply["id"] = m_meta.value("id", OrderedJson(""));
    reply["object"] = "chat.completion";
    reply["created"] = m_meta.value("created", OrderedJson(0));
    reply["model"] = m_meta.value("model", OrderedJson(""));
    OrderedJson choices = OrderedJson::array();
    for (const auto &[index, c] : m_choices) {
        OrderedJson message = {{"role", c.role}};
        message["content"] =
            !c.text.empty() || (c.textSeen && c.calls.empty()) ? OrderedJson(c.text) : OrderedJson();
        if (c.refusalSeen) {
            message["refusal"] = c.refusal;
        }
        if (!c.reasoningKey.empty()) {
            message[c.reasoningKey] = c.reasoning;
        }
        if (!c.calls.empty()) {
            OrderedJson calls = OrderedJson::array();
            for (const auto &[callIndex, t] : c.calls) {
                Q_UNUSED(callIndex);
                calls.push_back({{"id", t.id.is_null() ? OrderedJson("") : t.id},
                                 {"type", t.type},
                                 {"function", {{"name", t.name}, {"arguments", t.arguments}}}});
            }
            message["tool_calls"] = std::move(calls);
        }
        OrderedJson choice = {{"index", index}, {"message", std::move(message)}};
        if (!c.logprobs.is_null()) {
            choice["logprobs"] = {{"content", c.logprobs}};
        }
        choice["finish_reason"] = c.finishReason;
        choices.push_back(std::move(choice));
    }
    reply["choices"] = std::move(choices);
    if (!m_usage.is_null()) {
        reply["usage"] = m_usage;
    }
    for (const char *key : {"service_tier", "system_fingerprint"}) {
        if (m_meta.contains(key)) {
            reply[key] = m_meta[key];
        }
    }
    return reply;
}

OrderedJson StreamAssembler::anthropicBody() const
{
    OrderedJson reply = m_message.is_object() ? m_message : OrderedJson::object();
    OrderedJson content = OrderedJson::array();
    for (const auto &[index, block] : m_blocks) {
        bool ok = true;
        content.push_back(finishedBlock(index, &ok));
    }
    reply["content"] = std::move(content);
    return reply;
}

} // namespace Sluice
