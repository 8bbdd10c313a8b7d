#include "replycontent.h"

#include "sim/prompt.h"
#include "sim/simulatorconfig.h"
#include "sim/utf8text.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace Sluice::Sim {

namespace {

using json = nlohmann::json;

constexpr qsizetype kReplyPreviewChars = 60;
constexpr qsizetype kToolTextChars = 256;
constexpr int kMaxChunks = 100000;
constexpr qint64 kCharsPerToken = 4;

qint64 tokensOf(std::string_view text)
{
    return std::max<qint64>(1, utf8Length(text) / kCharsPerToken);
}

const std::string *stringAt(const json &object, const char *key)
{
    if (!object.is_object())
        return nullptr;
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? &it->get_ref<const std::string &>() : nullptr;
}

/// The tool's name: OpenAI {type: function, function: {name}} or Anthropic {name}.
std::string toolName(const json &tool)
{
    if (!tool.is_object())
        return {};
    if (const auto function = tool.find("function"); function != tool.end()) {
        if (const std::string *name = stringAt(*function, "name"))
            return *name;
    }
    const std::string *name = stringAt(tool, "name");
    return name ? *name : std::string();
}

} // namespace

ReplyContent ReplyContent::compose(const json &body, const Prompt &prompt, const SimulatorConfig &config,
                                   const std::string &defaultModel, qint64 serial)
{
    ReplyContent content;
    content.m_serial = serial;
    const std::string *model = stringAt(body, "model");
    content.m_model = model && !model->empty() ? *model : defaultModel;
    content.m_promptTokens = std::max<qint64>(1, prompt.chars() / kCharsPerToken);
    content.m_chunkCount = std::clamp(config.chunksPerReply, 0, kMaxChunks);
    content.m_toolCall = chooseTool(body, prompt);
    if (content.m_toolCall) {
        content.m_completionTokens = tokensOf(content.m_toolCall->arguments);
        return content;
    }
    content.m_text = "Simulated reply to: " + prompt.lastUserText(kReplyPreviewChars);
    // Enough text for the chunks asked for, about one token each.
    const qint64 wanted = content.m_chunkCount * kCharsPerToken;
    for (qint64 length = utf8Length(content.m_text); length < wanted; length += 4)
        content.m_text += " sim";
    content.m_completionTokens = tokensOf(content.m_text);
    return content;
}

std::optional<ReplyContent::ToolCall> ReplyContent::chooseTool(const json &body, const Prompt &prompt)
{
    const auto tools = body.find("tools");
    if (tools == body.end() || !tools->is_array() || tools->empty())
        return std::nullopt;
    std::string name = toolName(tools->front());
    if (const auto choice = body.find("tool_choice"); choice != body.end()) {
        // "none" (OpenAI) or {type: none} (Anthropic): answer in text. A named tool: that one.
        const std::string *type =
            choice->is_string() ? &choice->get_ref<const std::string &>() : stringAt(*choice, "type");
        if (type && *type == "none")
            return std::nullopt;
        if (const std::string *named = stringAt(*choice, "name"))
            name = *named;
        else if (choice->is_object() && choice->contains("function"))
            name = toolName(*choice);
    }
    if (name.empty())
        return std::nullopt;
    const json arguments = {{"text", prompt.lastUserText(kToolTextChars)}};
    return ToolCall{std::move(name), arguments.dump(-1, ' ', false, json::error_handler_t::replace)};
}

std::vector<std::string> ReplyContent::chunks() const
{
    const std::string &all = m_toolCall ? m_toolCall->arguments : m_text;
    return splitUtf8(all, m_chunkCount > 0 ? m_chunkCount : m_completionTokens);
}

} // namespace Sluice::Sim
