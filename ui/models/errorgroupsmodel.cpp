#include "errorgroupsmodel.h"

#include <QFile>
#include <QLocale>
#include <QRegularExpression>

#include <nlohmann/json.hpp>

namespace Sluice::Gui {

using json = nlohmann::json;

namespace {

QString stringField(const json &record, const char *key)
{
    const auto it = record.find(key);
    if (it == record.end() || !it->is_string()) {
        return QString();
    }
    return QString::fromStdString(it->get_ref<const std::string &>());
}

qint64 integerField(const json &record, const char *key)
{
    const auto it = record.find(key);
    if (it == record.end() || !it->is_number_integer()) {
        return 0;
    }
    return it->get<qint64>();
}

} // namespace

ErrorGroupsModel::ErrorGroupsModel(QObject *parent)
    : QAbstractItemModel(parent)
{
}

// Grouping normalisation (the key is error_class + this text; the text is also what a group displays):
//  1. a leading location prefix "<file>:<line>: " or "<file>:<line>:<column>: " is removed;
//  2. the quoted id in `custom_id "..."` becomes `custom_id "…"` (duplicate_id messages);
//  3. every stand-alone number (not glued to a letter, digit, '_' or '.' before it; optionally followed
//     by a unit ms/s/m/h) becomes "N": "column 12" and "column 7" merge, "line 3" and "line 9" merge,
//     "retry in 20s" and "in 3s" merge. Numbers inside words stay ("gpt-4o", "v1"), and so does the
//     status after "HTTP " ("HTTP 500" and "HTTP 502" are different causes).
QString ErrorGroupsModel::normalizeMessage(const QString &message)
{
    static const QRegularExpression prefix(QStringLiteral("^\\S*?:\\d+(?::\\d+)?: "));
    static const QRegularExpression customId(QStringLiteral("custom_id \"[^\"]*\""));
    static const QRegularExpression number(
        QStringLiteral("(?<!HTTP )(?<![\\w.])\\d+(?:\\.\\d+)?(?=(?:ms|s|m|h)?(?!\\w))"));
    QString text = message;
    text.remove(prefix);
    text.replace(customId, QStringLiteral("custom_id \"…\""));
    text.replace(number, QStringLiteral("N"));
    return text;
}

void ErrorGroupsModel::addRecord(const nlohmann::json &record)
{
    appendRecord(record, true);
}

void ErrorGroupsModel::appendRecord(const nlohmann::json &record, bool notify)
{
    if (!record.is_object()) {
        return;
    }
    Record r;
    r.line = integerField(record, "line");
    r.customId = stringField(record, "custom_id");
    r.endpoint = stringField(record, "endpoint");
    r.attempts = int(integerField(record, "attempts"));
    r.status = int(integerField(record, "status"));
    r.message = stringField(record, "error");
    QString cls = stringField(record, "error_class");
    if (cls.isEmpty()) {
        cls = QStringLiteral("unknown");
    }
    const QString message = normalizeMessage(r.message);
    const QString key = cls + QLatin1Char('\n') + message;

    const auto found = m_idByKey.constFind(key);
    if (found == m_idByKey.constEnd()) {
        // A new group has count 1, never more than any existing group: appending keeps the order.
        const int row = int(m_groups.size());
        if (notify) {
            beginInsertRows(QModelIndex(), row, row);
        }
        Group g;
        g.cls = cls;
        g.message = message;
        g.records.append(r);
        g.id = m_nextId++;
        m_idByKey.insert(key, g.id);
        m_rowById.insert(g.id, row);
        m_groups.append(g);
        if (notify) {
            endInsertRows();
        }
        return;
    }

    const int row = m_rowById.value(*found);
    const int childRow = int(m_groups.at(row).records.size());
    if (notify) {
        beginInsertRows(index(row, 0), childRow, childRow);
    }
    m_groups[row].records.append(r);
    if (notify) {
        endInsertRows();
        Q_EMIT dataChanged(index(row, Count), index(row, Count));
    }

    // Bubble up past the groups that now have fewer records (ties keep their first-seen order).
    const qsizetype count = m_groups.at(row).records.size();
    int target = row;
    while (target > 0 && m_groups.at(target - 1).records.size() < count) {
        --target;
    }
    if (target == row) {
        return;
    }
    if (notify) {
        beginMoveRows(QModelIndex(), row, row, QModelIndex(), target);
    }
    m_groups.move(row, target);
    for (int i = target; i <= row; ++i) {
        m_rowById[m_groups.at(i).id] = i;
    }
    if (notify) {
        endMoveRows();
    }
}

bool ErrorGroupsModel::loadFile(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        if (error) {
            *error = path + QStringLiteral(": cannot open: ") + file.errorString();
        }
        return false;
    }
    beginResetModel();
    resetContent();
    qint64 lineNumber = 0;
    qint64 lines = 0; ///< non-blank
    qint64 skipped = 0;
    qint64 firstSkipped = 0;
    while (!file.atEnd()) {
        const QByteArray line = file.readLine().trimmed();
        ++lineNumber;
        if (line.isEmpty()) {
            continue;
        }
        ++lines;
        const json record = json::parse(line.constBegin(), line.constEnd(), nullptr, false);
        if (record.is_discarded() || !record.is_object()) {
            if (skipped++ == 0) {
                firstSkipped = lineNumber;
            }
            continue;
        }
        appendRecord(record, false);
    }
    endResetModel();
    if (error) {
        error->clear();
        if (skipped > 0) {
            *error =
                QStringLiteral("%1: %2 of %3 lines are not JSON objects and were skipped (first: line %4)")
                    .arg(path)
                    .arg(skipped)
                    .arg(lines)
                    .arg(firstSkipped);
        }
    }
    return true;
}

void ErrorGroupsModel::clear()
{
    beginResetModel();
    resetContent();
    endResetModel();
}

void ErrorGroupsModel::resetContent()
{
    m_groups.clear();
    m_idByKey.clear();
    m_rowById.clear();
}

int ErrorGroupsModel::recordCount() const
{
    qsizetype total = 0;
    for (const Group &g : m_groups) {
        total += g.records.size();
    }
    return int(total);
}

QModelIndex ErrorGroupsModel::index(int row, int column, const QModelIndex &parent) const
{
    if (row < 0 || column < 0 || column >= ColumnCount) {
        return QModelIndex();
    }
    if (!parent.isValid()) {
        return row < m_groups.size() ? createIndex(row, column, quintptr(0)) : QModelIndex();
    }
    if (parent.model() != this || parent.internalId() != 0 || parent.column() != 0 ||
        parent.row() >= m_groups.size()) {
        return QModelIndex();
    }
    const Group &g = m_groups.at(parent.row());
    return row < g.records.size() ? createIndex(row, column, g.id) : QModelIndex();
}

QModelIndex ErrorGroupsModel::parent(const QModelIndex &child) const
{
    if (!child.isValid() || child.internalId() == 0) {
        return QModelIndex();
    }
    const auto it = m_rowById.constFind(child.internalId());
    if (it == m_rowById.constEnd()) {
        return QModelIndex();
    }
    return createIndex(*it, 0, quintptr(0));
}

int ErrorGroupsModel::rowCount(const QModelIndex &parent) const
{
    if (!parent.isValid()) {
        return int(m_groups.size());
    }
    if (parent.internalId() != 0 || parent.column() != 0 || parent.row() >= m_groups.size()) {
        return 0;
    }
    return int(m_groups.at(parent.row()).records.size());
}

int ErrorGroupsModel::columnCount(const QModelIndex &) const
{
    return ColumnCount;
}

QVariant ErrorGroupsModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.model() != this) {
        return QVariant();
    }
    const int column = index.column();
    if (index.internalId() == 0) {
        if (index.row() >= m_groups.size()) {
            return QVariant();
        }
        const Group &g = m_groups.at(index.row());
        switch (role) {
        case Qt::DisplayRole:
            if (column == Class) {
                return g.cls;
            }
            if (column == Message) {
                return g.message;
            }
            return int(g.records.size());
        case Qt::ToolTipRole:
            if (column == Message) {
                return g.message;
            }
            return QVariant();
        case Qt::TextAlignmentRole:
            if (column == Count) {
                return int(Qt::AlignRight | Qt::AlignVCenter);
            }
            return QVariant();
        default:
            return QVariant();
        }
    }

    const auto groupRow = m_rowById.constFind(index.internalId());
    if (groupRow == m_rowById.constEnd() || index.row() >= m_groups.at(*groupRow).records.size()) {
        return QVariant();
    }
    const Record &r = m_groups.at(*groupRow).records.at(index.row());
    switch (role) {
    case Qt::DisplayRole:
        if (column == Class) {
            return r.line;
        }
        if (column == Message) {
            const QString endpoint = r.endpoint.isEmpty() ? QStringLiteral("no endpoint") : r.endpoint;
            const QString attempts =
                r.attempts == 1 ? QStringLiteral("1 attempt") : QStringLiteral("%1 attempts").arg(r.attempts);
            const QString status =
                r.status == 0 ? QStringLiteral("no status") : QStringLiteral("HTTP %1").arg(r.status);
            const QString separator = QStringLiteral(" · ");
            return QString(r.customId + separator + endpoint + separator + attempts + separator + status);
        }
        return QString();
    case LineRole:
        return r.line;
    case Qt::ToolTipRole:
        return r.message;
    default:
        return QVariant();
    }
}

QVariant ErrorGroupsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) {
        return QVariant();
    }
    if (role == Qt::DisplayRole) {
        switch (section) {
        case Class:
            return QStringLiteral("Class");
        case Message:
            return QStringLiteral("Message");
        default:
            return QStringLiteral("Count");
        }
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case Class:
            return QStringLiteral("error_class of the group; the input line number for a record");
        case Message:
            return QStringLiteral("Error message with variable parts (numbers, file:line prefixes) replaced; "
                                  "for a record: custom_id · endpoint · attempts · status");
        default:
            return QStringLiteral("Number of failed records in the group");
        }
    }
    if (role == Qt::TextAlignmentRole && section == Count) {
        return int(Qt::AlignRight | Qt::AlignVCenter);
    }
    return QVariant();
}

} // namespace Sluice::Gui
