#pragma once

#include <QByteArray>
#include <QFile>
#include <QList>
#include <QString>

#include <nlohmann/json.hpp>

namespace Sluice::Test {

/// Writes JSON values (or raw strings, written as they are) as JSONL lines.
inline bool writeJsonl(const QString &path, const QList<nlohmann::json> &lines)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        return false;
    }
    for (const nlohmann::json &line : lines) {
        const std::string text = line.is_string() ? line.get<std::string>() : line.dump();
        file.write(text.data(), qint64(text.size()));
        file.write("\n", 1);
    }
    return true;
}

/// Reads a JSONL output file; a line that does not parse becomes a discarded value (and fails checks).
inline QList<nlohmann::json> readJsonl(const QString &path)
{
    QList<nlohmann::json> out;
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        return out;
    }
    while (!file.atEnd()) {
        const QByteArray line = file.readLine().trimmed();
        if (!line.isEmpty()) {
            out.append(
                nlohmann::json::parse(line.constData(), line.constData() + line.size(), nullptr, false));
        }
    }
    return out;
}

/// A whole JSON file (a --summary, say): its value, or null when it cannot be read or parsed.
inline nlohmann::json readJsonFile(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        return nlohmann::json();
    }
    const QByteArray bytes = file.readAll();
    nlohmann::json value =
        nlohmann::json::parse(bytes.constData(), bytes.constData() + bytes.size(), nullptr, false);
    return value.is_discarded() ? nlohmann::json() : value;
}

/// A prompt line whose text carries a simulator directive.
inline nlohmann::json promptLine(const QString &id, const QString &text)
{
    return {{"custom_id", id.toStdString()}, {"input", text.toStdString()}};
}

} // namespace Sluice::Test
