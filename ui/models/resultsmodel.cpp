#include "resultsmodel.h"

#include <QColor>
#include <QFile>
#include <QHash>
#include <QLocale>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace Sluice::Gui {

namespace {

using json = nlohmann::json;

constexpr qint64 MaxRecordBytes = 64 * 1024 * 1024; ///< longer output lines are not records we wrote

quint16 intern(QStringList &names, QHash<QString, quint16> &known, const QString &name)
{
    const auto it = known.constFind(name);
    if (it != known.cend()) {
        return *it;
    }
    const int index = int(names.indexOf(name));
    if (index >= 0) {
        known.insert(name, quint16(index));
        return quint16(index);
    }
    if (names.size() >= 65535) {
        return 0;
    }
    names.append(name);
    known.insert(name, quint16(names.size() - 1));
    return quint16(names.size() - 1);
}

QString stringOf(const json &j, const char *key)
{
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? QString::fromStdString(it->get<std::string>()) : QString();
}

double numberOf(const json &j, const char *key, double fallback)
{
    const auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

void readOutput(const QString &path, bool errors, ResultsModel::Index &index,
                QHash<QString, quint16> &endpoints, QHash<QString, quint16> &classes,
                const std::atomic_bool *cancel)
{
    QFile file(path);
    if (path.isEmpty() || !file.exists()) {
        return;
    }
    if (!file.open(QIODevice::ReadOnly)) {
        index.error = QStringLiteral("%1: cannot read: %2").arg(path, file.errorString());
        return;
    }
    while (!file.atEnd()) {
        if (cancel && cancel->load(std::memory_order_relaxed)) {
            return;
        }
        const qint64 offset = file.pos();
        const QByteArray text = file.readLine(MaxRecordBytes);
        const json j = json::parse(text.constBegin(), text.constEnd(), nullptr, false);
        if (!j.is_object() || !j.contains("line") || !j["line"].is_number_integer()) {
            if (!text.trimmed().isEmpty()) {
                ++index.unreadable;
            }
            continue;
        }
        ResultsModel::Row row;
        row.line = j["line"].get<qint64>();
        row.offset = offset;
        row.error = errors;
        const QByteArray id = stringOf(j, "custom_id").toUtf8();
        row.idOffset = quint32(index.ids.size());
        row.idLength = quint32(id.size());
        index.ids += id;
        row.endpoint = intern(index.endpoints, endpoints, stringOf(j, "endpoint"));
        row.attempts = quint16(std::clamp(numberOf(j, "attempts", 0), 0.0, 65535.0));
        row.latencyMs = float(numberOf(j, "latency_ms", -1));
        if (errors) {
            row.status = qint16(std::clamp(numberOf(j, "status", 0), 0.0, 32767.0));
            row.outcome =
                quint8(std::min<quint16>(255, intern(index.classes, classes, stringOf(j, "error_class"))));
        } else {
            const auto response = j.find("response");
            if (response != j.end() && response->is_object()) {
                row.status = qint16(std::clamp(numberOf(*response, "status_code", 0), 0.0, 32767.0));
            }
        }
        index.rows.push_back(row);
    }
}

void indexInput(const QString &path, ResultsModel::Index &index, const std::atomic_bool *cancel)
{
    QFile file(path);
    if (path.isEmpty() || !file.open(QIODevice::ReadOnly)) {
        return;
    }
    index.inputOffsets.push_back(0);
    qint64 line = 1; // the line that starts at the next byte
    QByteArray buffer(1 << 20, Qt::Uninitialized);
    qint64 base = 0;
    for (;;) {
        if (cancel && cancel->load(std::memory_order_relaxed)) {
            return;
        }
        const qint64 n = file.read(buffer.data(), buffer.size());
        if (n <= 0) {
            return;
        }
        const char *begin = buffer.constData();
        const char *p = begin;
        const char *end = begin + n;
        while ((p = static_cast<const char *>(std::memchr(p, '\n', std::size_t(end - p))))) {
            ++p;
            ++line;
            if ((line - 1) % ResultsModel::InputStride == 0) {
                index.inputOffsets.push_back(base + (p - begin));
            }
        }
        base += n;
    }
}

} // namespace

ResultsModel::Index ResultsModel::build(const QString &resultsPath, const QString &errorsPath,
                                        const QString &requestsPath, const std::atomic_bool *cancel)
{
    Index index;
    index.resultsPath = resultsPath;
    index.errorsPath = errorsPath;
    index.requestsPath = requestsPath;
    QHash<QString, quint16> endpoints, classes;
    readOutput(resultsPath, false, index, endpoints, classes, cancel);
    readOutput(errorsPath, true, index, endpoints, classes, cancel);
    std::stable_sort(index.rows.begin(), index.rows.end(),
                     [](const Row &a, const Row &b) { return a.line < b.line; });
    indexInput(requestsPath, index, cancel);
    return index;
}

ResultsModel::ResultsModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void ResultsModel::setIndex(Index index)
{
    beginResetModel();
    m_index = std::move(index);
    applyFilter();
    endResetModel();
}

void ResultsModel::clear()
{
    setIndex(Index());
}

void ResultsModel::setFilter(Filter filter)
{
    if (filter == m_filter) {
        return;
    }
    beginResetModel();
    m_filter = filter;
    applyFilter();
    endResetModel();
}

void ResultsModel::applyFilter()
{
    m_visible.clear();
    m_visible.reserve(m_index.rows.size());
    for (std::size_t i = 0; i < m_index.rows.size(); ++i) {
        const bool error = m_index.rows[i].error;
        if (m_filter == Filter::All || (m_filter == Filter::Failed) == error) {
            m_visible.push_back(int(i));
        }
    }
}

int ResultsModel::rowForLine(qint64 line) const
{
    const auto it = std::lower_bound(m_visible.cbegin(), m_visible.cend(), line, [this](int i, qint64 l) {
        return m_index.rows[std::size_t(i)].line < l;
    });
    if (it == m_visible.cend() || m_index.rows[std::size_t(*it)].line != line) {
        return -1;
    }
    return int(it - m_visible.cbegin());
}

QList<int> ResultsModel::rowsForCustomId(const QString &text, int limit) const
{
    QList<int> found;
    const QByteArray needle = text.toUtf8();
    if (needle.isEmpty()) {
        return found;
    }
    for (std::size_t v = 0; v < m_visible.size() && found.size() < limit; ++v) {
        const Row &row = m_index.rows[std::size_t(m_visible[v])];
        const QByteArrayView id(m_index.ids.constData() + row.idOffset, row.idLength);
        if (id.contains(needle)) {
            found.append(int(v));
        }
    }
    return found;
}

const ResultsModel::Row &ResultsModel::rowAt(int visibleRow) const
{
    return m_index.rows[std::size_t(m_visible[std::size_t(visibleRow)])];
}

QString ResultsModel::customId(const Row &row) const
{
    return QString::fromUtf8(m_index.ids.constData() + row.idOffset, qsizetype(row.idLength));
}

QString ResultsModel::outcomeText(const Row &row) const
{
    return row.error ? m_index.classes.value(row.outcome) : QStringLiteral("succeeded");
}

QByteArray ResultsModel::recordText(int visibleRow) const
{
    if (visibleRow < 0 || std::size_t(visibleRow) >= m_visible.size()) {
        return QByteArray();
    }
    const Row &row = rowAt(visibleRow);
    QFile file(row.error ? m_index.errorsPath : m_index.resultsPath);
    if (!file.open(QIODevice::ReadOnly) || !file.seek(row.offset)) {
        return QByteArray();
    }
    return file.readLine(MaxRecordBytes).trimmed();
}

QByteArray ResultsModel::inputLine(qint64 line) const
{
    if (line < 1 || m_index.inputOffsets.empty()) {
        return QByteArray();
    }
    const std::size_t block = std::size_t((line - 1) / InputStride);
    if (block >= m_index.inputOffsets.size()) {
        return QByteArray();
    }
    QFile file(m_index.requestsPath);
    if (!file.open(QIODevice::ReadOnly) || !file.seek(m_index.inputOffsets[block])) {
        return QByteArray();
    }
    for (qint64 skip = (line - 1) % InputStride; skip > 0; --skip) {
        if (file.readLine(MaxRecordBytes).isEmpty()) {
            return QByteArray();
        }
    }
    QByteArray text = file.readLine(MaxRecordBytes);
    while (text.endsWith('\n') || text.endsWith('\r')) {
        text.chop(1);
    }
    return text;
}

int ResultsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_visible.size());
}

int ResultsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(ColumnCount);
}

QVariant ResultsModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount) {
        return QVariant();
    }
    const Row &row = rowAt(index.row());
    if (role == Qt::TextAlignmentRole) {
        switch (index.column()) {
        case Line:
        case Attempts:
        case Latency:
        case Status:
            return int(Qt::AlignRight | Qt::AlignVCenter);
        default:
            return QVariant();
        }
    }
    if (role == Qt::ForegroundRole && index.column() == Outcome && row.error) {
        return QColor(0xe0, 0x50, 0x48);
    }
    if (role != Qt::DisplayRole) {
        return QVariant();
    }
    const QLocale locale(QLocale::English);
    switch (index.column()) {
    case Line:
        return locale.toString(row.line);
    case CustomId:
        return customId(row);
    case Outcome:
        return outcomeText(row);
    case Endpoint:
        return m_index.endpoints.value(row.endpoint);
    case Attempts:
        return row.attempts;
    case Latency:
        return row.latencyMs < 0
                   ? QString()
                   : locale.toString(qint64(std::llround(row.latencyMs))) + QStringLiteral(" ms");
    case Status:
        return row.status > 0 ? QString::number(row.status) : QString();
    default:
        return QVariant();
    }
}

QVariant ResultsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) {
        return QAbstractTableModel::headerData(section, orientation, role);
    }
    static const char *const names[] = {"Line",     "custom_id", "Outcome", "Endpoint",
                                        "Attempts", "Latency",   "HTTP"};
    return section >= 0 && section < ColumnCount ? tr(names[section]) : QVariant();
}

} // namespace Sluice::Gui
