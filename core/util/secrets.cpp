#include "secrets.h"

#include <string_view>

namespace Sluice {

namespace {
constexpr std::string_view Replacement = "[REDACTED]";
}

Secrets::Secrets(const QList<QByteArray> &keys)
{
    for (const QByteArray &key : keys) {
        if (key.size() >= MinBytes) {
            m_keys.push_back(key.toStdString());
        }
    }
}

void Secrets::redact(std::string &text) const
{
    for (const std::string &key : m_keys) {
        for (std::size_t at = text.find(key); at != std::string::npos;
             at = text.find(key, at + Replacement.size())) {
            text.replace(at, key.size(), Replacement);
        }
    }
}

QString Secrets::redacted(QString text) const
{
    // Messages only (a failure's text), so the keys are converted here rather than kept twice.
    for (const std::string &key : m_keys) {
        text.replace(QString::fromUtf8(key.data(), qsizetype(key.size())),
                     QLatin1String(Replacement.data(), qsizetype(Replacement.size())));
    }
    return text;
}

} // namespace Sluice
