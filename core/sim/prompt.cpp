#include "prompt.h"

#include "sim/utf8text.h"

#include <nlohmann/json.hpp>

namespace Sluice::Sim {

namespace {

using json = nlohmann::json;

void collectText(const json &content, std::vector<std::string_view> &out)
{
    if (content.is_string()) {
        out.emplace_back(content.get_ref<const std::string &>());
        return;
    }
    if (!content.is_array())
        return;
    for (const json &part : content) {
        if (part.is_string()) {
            out.emplace_back(part.get_ref<const std::string &>());
        } else if (part.is_object()) {
            const auto text = part.find("text");
            if (text != part.end() && text->is_string())
                out.emplace_back(text->get_ref<const std::string &>());
        }
    }
}

} // namespace

std::optional<Prompt> Prompt::read(const json &body)
{
    const auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array() || messages->empty())
        return std::nullopt;
    Prompt prompt;
    const auto system = body.find("system");
    if (system != body.end())
        collectText(*system, prompt.m_pieces);
    bool sawUser = false;
    for (const json &message : *messages) {
        if (!message.is_object())
            continue;
        const auto content = message.find("content");
        if (content == message.end())
            continue;
        const std::size_t first = prompt.m_pieces.size();
        collectText(*content, prompt.m_pieces);
        const auto role = message.find("role");
        const bool isUser =
            role != message.end() && role->is_string() && role->get_ref<const std::string &>() == "user";
        // The last user message, or the last message at all when there is no user message.
        if (isUser || !sawUser) {
            sawUser = sawUser || isUser;
            prompt.m_lastUserFirst = first;
            prompt.m_lastUserCount = prompt.m_pieces.size() - first;
        }
    }
    for (const std::string_view piece : prompt.m_pieces)
        prompt.m_chars += utf8Length(piece);
    return prompt;
}

std::string Prompt::lastUserText(qint64 maxChars) const
{
    std::string out;
    for (std::size_t i = 0; i < m_lastUserCount && maxChars > 0; ++i) {
        if (i > 0) {
            out.push_back('\n');
            --maxChars;
        }
        maxChars -= appendUtf8Prefix(out, m_pieces[m_lastUserFirst + i], maxChars);
    }
    return out;
}

} // namespace Sluice::Sim
