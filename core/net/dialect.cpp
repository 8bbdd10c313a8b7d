#include "dialect.h"

#include <algorithm>

namespace Sluice {

namespace {

using json = nlohmann::json;

/// Text of a content value that is either a string or a list of {type: text, text} blocks.
std::string contentText(const json &content)
{
    if (content.is_string()) {
        return content.get<std::string>();
    }
    std::string text;
    if (content.is_array()) {
        for (const json &part : content) {
            if (part.is_object() && part.value("type", std::string()) == "text" && part.contains("text") &&
                part["text"].is_string()) {
                if (!text.empty()) {
                    text += '\n';
                }
                text += part["text"].get<std::string>();
            }
        }
    }
    return text;
}

std::string stringAt(const json &object, const char *key)
{
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// A tool call's `arguments` (a JSON text) as the object Anthropic's tool_use `input` wants.
json argumentsObject(const json &arguments)
{
    if (arguments.is_object()) {
        return arguments;
    }
    if (arguments.is_string()) {
        const std::string &text = arguments.get_ref<const std::string &>();
        json parsed = json::parse(text, nullptr, false);
        if (!parsed.is_discarded() && parsed.is_object()) {
            return parsed;
        }
    }
    return json::object();
}

/// OpenAI image_url part → Anthropic image block (data: URLs become base64 sources). Null when the
/// part has no usable URL.
json imageBlockFromUrl(const json &part)
{
    const auto image = part.find("image_url");
    std::string url;
    if (image != part.end()) {
        url = image->is_string() ? image->get<std::string>() : stringAt(*image, "url");
    }
    if (url.empty()) {
        return nullptr;
    }
    if (url.rfind("data:", 0) == 0) {
        const auto comma = url.find(',');
        const auto semicolon = url.find(";base64");
        if (comma == std::string::npos || semicolon == std::string::npos || semicolon > comma) {
            return nullptr;
        }
        return {{"type", "image"},
                {"source",
                 {{"type", "base64"},
                  {"media_type", url.substr(5, semicolon - 5)},
                  {"data", url.substr(comma + 1)}}}};
    }
    return {{"type", "image"}, {"source", {{"type", "url"}, {"url", url}}}};
}

/// Anthropic image block → OpenAI image_url part; null when its source is not usable.
json imagePartFromBlock(const json &block)
{
    const auto source = block.find("source");
    if (source == block.end() || !source->is_object()) {
        return nullptr;
    }
    const std::string type = stringAt(*source, "type");
    std::string url;
    if (type == "base64") {
        const std::string media = stringAt(*source, "media_type");
        const std::string data = stringAt(*source, "data");
        if (media.empty() || data.empty()) {
            return nullptr;
        }
        url = "data:" + media + ";base64," + data;
    } else if (type == "url") {
        url = stringAt(*source, "url");
    }
    if (url.empty()) {
        return nullptr;
    }
    return {{"type", "image_url"}, {"image_url", {{"url", url}}}};
}

/// OpenAI user/assistant content (string or parts) → Anthropic content (string, or blocks when it has
/// anything but text).
json messagesContent(json content)
{
    if (content.is_null()) {
        return "";
    }
    if (!content.is_array()) {
        return content;
    }
    json blocks = json::array();
    bool onlyText = true;
    for (json &part : content) {
        if (!part.is_object()) {
            continue;
        }
        const std::string type = stringAt(part, "type");
        if (type == "text") {
            blocks.push_back({{"type", "text"}, {"text", stringAt(part, "text")}});
        } else if (type == "image_url") {
            if (json image = imageBlockFromUrl(part); !image.is_null()) {
                blocks.push_back(std::move(image));
                onlyText = false;
            }
        }
    }
    if (onlyText) {
        return contentText(blocks);
    }
    return blocks;
}

/// Adds `message` (Anthropic role/content) to `messages`, merging it into the previous one when both
/// are the same role and carry blocks (tool results after several tool calls come as one user turn).
void appendMessage(json &messages, json message)
{
    if (!messages.empty()) {
        json &last = messages.back();
        if (last["role"] == message["role"] && last["content"].is_array() && message["content"].is_array()) {
            for (json &block : message["content"]) {
                last["content"].push_back(std::move(block));
            }
            return;
        }
    }
    messages.push_back(std::move(message));
}

json toolsToAnthropic(const json &tools)
{
    json out = json::array();
    for (const json &tool : tools) {
        if (!tool.is_object()) {
            continue;
        }
        const json &function = tool.contains("function") ? tool["function"] : tool;
        if (!function.is_object() || stringAt(function, "name").empty()) {
            continue;
        }
        json t = {{"name", function["name"]}};
        if (function.contains("description")) {
            t["description"] = function["description"];
        }
        t["input_schema"] = function.contains("parameters") && function["parameters"].is_object()
                                ? function["parameters"]
                                : json{{"type", "object"}, {"properties", json::object()}};
        out.push_back(std::move(t));
    }
    return out;
}

json toolChoiceToAnthropic(const json &choice)
{
    if (choice.is_string()) {
        const std::string c = choice.get<std::string>();
        if (c == "required") {
            return {{"type", "any"}};
        }
        if (c == "none") {
            return {{"type", "none"}};
        }
        return {{"type", "auto"}};
    }
    if (choice.is_object() && choice.contains("function")) {
        return {{"type", "tool"}, {"name", stringAt(choice["function"], "name")}};
    }
    return {{"type", "auto"}};
}

json toolChoiceToChat(const json &choice)
{
    const std::string type = choice.is_object() ? stringAt(choice, "type") : std::string();
    if (type == "any") {
        return "required";
    }
    if (type == "none") {
        return "none";
    }
    if (type == "tool") {
        return {{"type", "function"}, {"function", {{"name", stringAt(choice, "name")}}}};
    }
    return "auto";
}

/// One OpenAI message (not system) as Anthropic message(s), appended to `messages`.
void chatMessageToAnthropic(json &m, json &messages)
{
    const std::string role = m.value("role", std::string("user"));
    if (role == "tool") {
        const std::string id = stringAt(m, "tool_call_id");
        json content = m.contains("content") ? messagesContent(std::move(m["content"])) : json("");
        if (id.empty()) { // nothing to tie it to: plain user text
            appendMessage(messages, {{"role", "user"}, {"content", std::move(content)}});
            return;
        }
        appendMessage(messages, {{"role", "user"},
                                 {"content", json::array({{{"type", "tool_result"},
                                                           {"tool_use_id", id},
                                                           {"content", std::move(content)}}})}});
        return;
    }
    json content = m.contains("content") ? messagesContent(std::move(m["content"])) : json("");
    const auto calls = m.find("tool_calls");
    if (role == "assistant" && calls != m.end() && calls->is_array() && !calls->empty()) {
        json blocks = json::array();
        if (content.is_string() && !content.get_ref<const std::string &>().empty()) {
            blocks.push_back({{"type", "text"}, {"text", std::move(content)}});
        } else if (content.is_array()) {
            blocks = std::move(content);
        }
        for (const json &call : *calls) {
            if (!call.is_object() || !call.contains("function")) {
                continue;
            }
            const json &function = call["function"];
            blocks.push_back({{"type", "tool_use"},
                              {"id", stringAt(call, "id")},
                              {"name", stringAt(function, "name")},
                              {"input", argumentsObject(function.value("arguments", json()))}});
        }
        appendMessage(messages, {{"role", "assistant"}, {"content", std::move(blocks)}});
        return;
    }
    appendMessage(messages,
                  {{"role", role == "assistant" ? "assistant" : "user"}, {"content", std::move(content)}});
}

/// One Anthropic message as OpenAI message(s), appended to `messages`.
void anthropicMessageToChat(const json &m, json &messages)
{
    const std::string role = m.value("role", std::string("user"));
    const json content = m.value("content", json());
    if (!content.is_array()) {
        messages.push_back({{"role", role}, {"content", contentText(content)}});
        return;
    }
    std::string text;
    json parts = json::array();
    bool hasImage = false;
    json toolCalls = json::array();
    for (const json &block : content) {
        if (!block.is_object()) {
            continue;
        }
        const std::string type = stringAt(block, "type");
        if (type == "text") {
            const std::string t = stringAt(block, "text");
            text += text.empty() ? t : "\n" + t;
            parts.push_back({{"type", "text"}, {"text", t}});
        } else if (type == "image" && role == "user") {
            if (json image = imagePartFromBlock(block); !image.is_null()) {
                parts.push_back(std::move(image));
                hasImage = true;
            }
        } else if (type == "tool_use") {
            toolCalls.push_back({{"id", stringAt(block, "id")},
                                 {"type", "function"},
                                 {"function",
                                  {{"name", stringAt(block, "name")},
                                   {"arguments", block.value("input", json::object()).dump()}}}});
        } else if (type == "tool_result") {
            // A tool result is a message of its own in the OpenAI dialect, before the user's text.
            messages.push_back({{"role", "tool"},
                                {"tool_call_id", stringAt(block, "tool_use_id")},
                                {"content", contentText(block.value("content", json("")))}});
        }
    }
    if (role == "assistant") {
        json message = {{"role", "assistant"},
                        {"content", text.empty() && !toolCalls.empty() ? json() : json(text)}};
        if (!toolCalls.empty()) {
            message["tool_calls"] = std::move(toolCalls);
        }
        messages.push_back(std::move(message));
        return;
    }
    if (parts.empty()) {
        return; // only tool results
    }
    messages.push_back({{"role", role}, {"content", hasImage ? std::move(parts) : json(text)}});
}

qint64 count(const json &object, const char *key)
{
    const auto it = object.find(key);
    return it != object.end() && it->is_number() ? std::max<qint64>(0, it->get<qint64>()) : 0;
}

/// Appends `text` as a JSON string (UTF-8 kept as it is: it comes from a parsed document).
void appendString(std::string &out, std::string_view text)
{
    static const char hex[] = "0123456789abcdef";
    out += '"';
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else {
                out += ch;
            }
        }
    }
    out += '"';
}

} // namespace

json Dialect::chatToMessages(json body, int defaultMaxTokens)
{
    json out = json::object();
    // A bare Anthropic Messages body can arrive here too (it has "messages"): keep its system prompt.
    std::string system = body.contains("system") ? contentText(body["system"]) : std::string();
    json messages = json::array();
    if (body.contains("messages") && body["messages"].is_array()) {
        for (json &m : body["messages"]) {
            if (!m.is_object()) {
                continue;
            }
            const std::string role = m.value("role", std::string("user"));
            if (role == "system" || role == "developer") {
                if (!system.empty()) {
                    system += "\n\n";
                }
                system += contentText(m.value("content", json()));
                continue;
            }
            chatMessageToAnthropic(m, messages);
        }
    }
    if (body.contains("model")) {
        out["model"] = body["model"];
    }
    if (!system.empty()) {
        out["system"] = system;
    }
    out["messages"] = std::move(messages);
    if (body.contains("max_tokens")) {
        out["max_tokens"] = body["max_tokens"];
    } else if (body.contains("max_completion_tokens")) {
        out["max_tokens"] = body["max_completion_tokens"];
    } else {
        out["max_tokens"] = defaultMaxTokens;
    }
    for (const char *key :
         {"temperature", "top_p", "top_k", "metadata", "stop_sequences", "thinking", "service_tier"}) {
        if (body.contains(key)) {
            out[key] = body[key];
        }
    }
    if (body.contains("stop") && !body["stop"].is_null()) {
        const json &stop = body["stop"];
        out["stop_sequences"] = stop.is_string() ? json::array({stop}) : stop;
    }
    if (body.contains("tools") && body["tools"].is_array()) {
        out["tools"] = toolsToAnthropic(body["tools"]);
    }
    if (body.contains("tool_choice")) {
        const json &choice = body["tool_choice"];
        out["tool_choice"] = choice.is_object() && choice.contains("type") && !choice.contains("function")
                                 ? choice // already Anthropic's
                                 : toolChoiceToAnthropic(choice);
    }
    if (body.contains("parallel_tool_calls") && body["parallel_tool_calls"] == false &&
        out.contains("tools")) {
        if (!out.contains("tool_choice")) {
            out["tool_choice"] = {{"type", "auto"}};
        }
        out["tool_choice"]["disable_parallel_tool_use"] = true;
    }
    if (body.contains("user") && body["user"].is_string() && !out.contains("metadata")) {
        out["metadata"] = {{"user_id", body["user"]}};
    }
    if (out.contains("metadata") && (!out["metadata"].is_object() || !out["metadata"].contains("user_id"))) {
        out.erase("metadata"); // OpenAI metadata (free key/values) has no Anthropic counterpart
    }
    return out;
}

json Dialect::messagesToChat(json body)
{
    json out = json::object();
    json messages = json::array();
    if (body.contains("system")) {
        messages.push_back({{"role", "system"}, {"content", contentText(body["system"])}});
    }
    if (body.contains("messages") && body["messages"].is_array()) {
        for (const json &m : body["messages"]) {
            if (m.is_object()) {
                anthropicMessageToChat(m, messages);
            }
        }
    }
    if (body.contains("model")) {
        out["model"] = body["model"];
    }
    out["messages"] = std::move(messages);
    for (const char *key : {"max_tokens", "temperature", "top_p"}) {
        if (body.contains(key)) {
            out[key] = body[key];
        }
    }
    if (body.contains("stop_sequences")) {
        out["stop"] = body["stop_sequences"];
    }
    if (body.contains("tools") && body["tools"].is_array()) {
        json tools = json::array();
        for (const json &tool : body["tools"]) {
            if (!tool.is_object() || stringAt(tool, "name").empty()) {
                continue; // server tools (web search...) have no OpenAI counterpart
            }
            json function = {{"name", tool["name"]},
                             {"parameters", tool.value("input_schema", json{{"type", "object"}})}};
            if (tool.contains("description")) {
                function["description"] = tool["description"];
            }
            tools.push_back({{"type", "function"}, {"function", std::move(function)}});
        }
        out["tools"] = std::move(tools);
    }
    if (body.contains("tool_choice")) {
        out["tool_choice"] = toolChoiceToChat(body["tool_choice"]);
        if (body["tool_choice"].is_object() &&
            body["tool_choice"].value("disable_parallel_tool_use", false)) {
            out["parallel_tool_calls"] = false;
        }
    }
    return out;
}

json Dialect::messagesUsageToChat(const json &u)
{
    if (!u.is_object()) {
        return {{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}};
    }
    const qint64 cached = count(u, "cache_read_input_tokens");
    const qint64 prompt = count(u, "input_tokens") + cached + count(u, "cache_creation_input_tokens");
    const qint64 completion = count(u, "output_tokens");
    return {{"prompt_tokens", prompt},
            {"completion_tokens", completion},
            {"total_tokens", prompt + completion},
            {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

json Dialect::chatUsageToMessages(const json &u)
{
    if (!u.is_object()) {
        return {{"input_tokens", 0}, {"output_tokens", 0}};
    }
    qint64 cached = 0;
    if (const auto details = u.find("prompt_tokens_details"); details != u.end() && details->is_object()) {
        cached = count(*details, "cached_tokens");
    }
    json usage = {{"input_tokens", std::max<qint64>(0, count(u, "prompt_tokens") - cached)},
                  {"output_tokens", count(u, "completion_tokens")}};
    if (cached > 0) {
        usage["cache_read_input_tokens"] = cached;
    }
    return usage;
}

std::string Dialect::finishReasonFor(std::string_view stopReason)
{
    if (stopReason == "max_tokens" || stopReason == "model_context_window_exceeded") {
        return "length";
    }
    if (stopReason == "tool_use") {
        return "tool_calls";
    }
    if (stopReason == "refusal") {
        return "content_filter";
    }
    return "stop"; // end_turn, stop_sequence, pause_turn
}

std::string Dialect::stopReasonFor(std::string_view finishReason)
{
    if (finishReason == "length") {
        return "max_tokens";
    }
    if (finishReason == "tool_calls" || finishReason == "function_call") {
        return "tool_use";
    }
    if (finishReason == "content_filter") {
        return "refusal";
    }
    return "end_turn";
}

json Dialect::messagesReplyToChat(const json &reply, qint64 createdS)
{
    std::string text;
    bool anyText = false;
    json toolCalls = json::array();
    if (const auto content = reply.find("content"); content != reply.end() && content->is_array()) {
        for (const json &block : *content) {
            const std::string type = block.is_object() ? stringAt(block, "type") : std::string();
            if (type == "text") {
                text += stringAt(block, "text");
                anyText = true;
            } else if (type == "tool_use") {
                toolCalls.push_back({{"id", stringAt(block, "id")},
                                     {"type", "function"},
                                     {"function",
                                      {{"name", stringAt(block, "name")},
                                       {"arguments", block.value("input", json::object()).dump()}}}});
            }
        }
    }
    json message = {{"role", "assistant"}, {"content", anyText ? json(text) : json()}, {"refusal", nullptr}};
    if (!toolCalls.empty()) {
        message["tool_calls"] = std::move(toolCalls);
    }
    const json stop = reply.value("stop_reason", json());
    json usage = json::object();
    if (const auto u = reply.find("usage"); u != reply.end() && u->is_object()) {
        const qint64 cached = count(*u, "cache_read_input_tokens");
        const qint64 prompt = count(*u, "input_tokens") + cached + count(*u, "cache_creation_input_tokens");
        const qint64 completion = count(*u, "output_tokens");
        usage = {{"prompt_tokens", prompt},
                 {"completion_tokens", completion},
                 {"total_tokens", prompt + completion},
                 {"prompt_tokens_details", {{"cached_tokens", cached}}}};
    }
    return {{"id", stringAt(reply, "id")},
            {"object", "chat.completion"},
            {"created", createdS},
            {"model", stringAt(reply, "model")},
            {"choices",
             json::array({{{"index", 0},
                           {"message", std::move(message)},
                           {"logprobs", nullptr},
                           {"finish_reason", stop.is_string() ? finishReasonFor(stop.get<std::string>())
                                                              : std::string("stop")}}})},
            {"usage", std::move(usage)}};
}

std::string Dialect::messagesReplyToChatText(const json &reply, qint64 createdS)
{
    // The same object as messagesReplyToChat() (tst_dialect compares them), written straight out: building
    // it as a document first cost more than parsing the reply (the gateway does this per translated call).
    std::string text;
    bool anyText = false;
    std::string calls;
    if (const auto content = reply.find("content"); content != reply.end() && content->is_array()) {
        for (const json &block : *content) {
            const std::string type = block.is_object() ? stringAt(block, "type") : std::string();
            if (type == "text") {
                text += stringAt(block, "text");
                anyText = true;
            } else if (type == "tool_use") {
                calls += calls.empty() ? "[" : ",";
                calls += R"({"id":)";
                appendString(calls, stringAt(block, "id"));
                calls += R"(,"type":"function","function":{"name":)";
                appendString(calls, stringAt(block, "name"));
                calls += R"(,"arguments":)";
                appendString(calls, block.value("input", json::object())
                                        .dump(-1, ' ', false, json::error_handler_t::replace));
                calls += "}}";
            }
        }
    }
    const auto stop = reply.find("stop_reason");
    std::string out;
    out.reserve(256 + text.size() + calls.size());
    out += R"({"id":)";
    appendString(out, stringAt(reply, "id"));
    out += R"(,"object":"chat.completion","created":)";
    out += std::to_string(createdS);
    out += R"(,"model":)";
    appendString(out, stringAt(reply, "model"));
    out += R"(,"choices":[{"index":0,"message":{"role":"assistant","content":)";
    if (anyText) {
        appendString(out, text);
    } else {
        out += "null";
    }
    out += R"(,"refusal":null)";
    if (!calls.empty()) {
        out += R"(,"tool_calls":)";
        out += calls;
        out += ']';
    }
    out += R"(},"logprobs":null,"finish_reason":)";
    appendString(out, stop != reply.end() && stop->is_string() ? finishReasonFor(stop->get<std::string>())
                                                               : std::string("stop"));
    out += R"(}],"usage":)";
    if (const auto u = reply.find("usage"); u != reply.end() && u->is_object()) {
        const qint64 cached = count(*u, "cache_read_input_tokens");
        const qint64 prompt = count(*u, "input_tokens") + cached + count(*u, "cache_creation_input_tokens");
        const qint64 completion = count(*u, "output_tokens");
        out += R"({"prompt_tokens":)" + std::to_string(prompt) + R"(,"completion_tokens":)" +
               std::to_string(completion) + R"(,"total_tokens":)" + std::to_string(prompt + completion) +
               R"(,"prompt_tokens_details":{"cached_tokens":)" + std::to_string(cached) + "}}";
    } else {
        out += "{}";
    }
    out += '}';
    return out;
}

json Dialect::chatReplyToMessages(const json &reply)
{
    json content = json::array();
    std::string finish = "stop";
    if (const auto choices = reply.find("choices");
        choices != reply.end() && choices->is_array() && !choices->empty() && (*choices)[0].is_object()) {
        const json &choice = (*choices)[0];
        if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) {
            finish = choice["finish_reason"].get<std::string>();
        }
        const json message = choice.value("message", json::object());
        const std::string text =
            message.is_object() ? contentText(message.value("content", json())) : std::string();
        if (!text.empty()) {
            content.push_back({{"type", "text"}, {"text", text}});
        }
        if (message.is_object() && message.contains("tool_calls") && message["tool_calls"].is_array()) {
            for (const json &call : message["tool_calls"]) {
                if (!call.is_object() || !call.contains("function")) {
                    continue;
                }
                content.push_back({{"type", "tool_use"},
                                   {"id", stringAt(call, "id")},
                                   {"name", stringAt(call["function"], "name")},
                                   {"input", argumentsObject(call["function"].value("arguments", json()))}});
            }
        }
    }
    json usage = {{"input_tokens", 0}, {"output_tokens", 0}};
    if (const auto u = reply.find("usage"); u != reply.end() && u->is_object()) {
        qint64 cached = 0;
        if (const auto details = u->find("prompt_tokens_details");
            details != u->end() && details->is_object()) {
            cached = count(*details, "cached_tokens");
        }
        usage = {{"input_tokens", std::max<qint64>(0, count(*u, "prompt_tokens") - cached)},
                 {"output_tokens", count(*u, "completion_tokens")}};
        if (cached > 0) {
            usage["cache_read_input_tokens"] = cached;
        }
    }
    return {{"id", stringAt(reply, "id")},   {"type", "message"},
            {"role", "assistant"},           {"model", stringAt(reply, "model")},
            {"content", std::move(content)}, {"stop_reason", stopReasonFor(finish)},
            {"stop_sequence", nullptr},      {"usage", std::move(usage)}};
}

json Dialect::translateReply(const json &reply, Provider from, Provider to, qint64 createdS)
{
    if (from == to) {
        return reply;
    }
    return to == Provider::OpenAI ? messagesReplyToChat(reply, createdS) : chatReplyToMessages(reply);
}

Dialect::ApiError Dialect::readError(const json &body, int status)
{
    ApiError e;
    e.status = status;
    if (!body.is_object()) {
        return e;
    }
    const auto error = body.find("error");
    if (error == body.end()) {
        e.message = stringAt(body, "message");
        return e;
    }
    if (error->is_string()) { // some OpenAI-compatible servers: {"error": "text"}
        e.message = error->get<std::string>();
        return e;
    }
    if (!error->is_object()) {
        return e;
    }
    e.type = stringAt(*error, "type");
    e.message = stringAt(*error, "message");
    if (const auto code = error->find("code");
        code != error->end() && (code->is_string() || code->is_number())) {
        e.code = *code;
    }
    if (const auto param = error->find("param"); param != error->end() && param->is_string()) {
        e.param = *param;
    }
    return e;
}

std::string Dialect::anthropicErrorType(int status)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    case 504:
        return "timeout_error";
    default:
        return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
    }
}

std::string Dialect::openAiErrorType(int status, const json &code)
{
    if (code.is_string() && code.get<std::string>() == "insufficient_quota") {
        return "insufficient_quota";
    }
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 429:
        return "rate_limit_error";
    default:
        return status >= 400 && status < 500 ? "invalid_request_error" : "server_error";
    }
}

json Dialect::errorBody(Provider dialect, const ApiError &error)
{
    static const char *const anthropicTypes[] = {
        "invalid_request_error", "authentication_error", "billing_error",    "permission_error",
        "not_found_error",       "request_too_large",    "rate_limit_error", "api_error",
        "overloaded_error",      "timeout_error"};
    const bool anthropicType = std::find(std::begin(anthropicTypes), std::end(anthropicTypes), error.type) !=
                               std::end(anthropicTypes);
    if (dialect == Provider::Anthropic) {
        // Its own types are kept; anything else (OpenAI's, the gateway's) is mapped by the status.
        const std::string type = anthropicType ? error.type : anthropicErrorType(error.status);
        return {{"type", "error"}, {"error", {{"type", type}, {"message", error.message}}}};
    }
    // OpenAI's own types are kept ("server_error", "insufficient_quota", "requests"...); Anthropic's are
    // mapped by the status (the SDKs tell errors apart by status, not by type).
    const bool openAiType = !error.type.empty() && !anthropicType;
    const std::string type = openAiType ? error.type : openAiErrorType(error.status, error.code);
    return {{"error",
             {{"message", error.message}, {"type", type}, {"param", error.param}, {"code", error.code}}}};
}

} // namespace Sluice
