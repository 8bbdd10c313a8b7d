#pragma once

#include <QAbstractItemModel>
#include <QHash>
#include <QList>
#include <QString>

#include <nlohmann/json_fwd.hpp>

namespace Sluice::Gui {

/// Failed records grouped by error class and message, with counts (Locust's failures tab): top-level
/// rows are groups (class, message, count), sorted by count, descending; each expands to its records
/// (line, custom_id, endpoint, attempts, status). Messages are grouped after replacing the variable
/// parts that would split one cause into many groups (numbers after "line", file:line prefixes).
class ErrorGroupsModel : public QAbstractItemModel
{
    Q_OBJECT

public:
    enum Column { Class, Message, Count, ColumnCount };
    /// Child rows use: Class = line number, Message = "custom_id · endpoint · attempts · status", Count = "".
    static constexpr int LineRole = Qt::UserRole + 1; ///< the input line number of a record (child rows)

    explicit ErrorGroupsModel(QObject *parent = nullptr);

    /// Adds one record from the errors file (the errors JSONL shape).
    void addRecord(const nlohmann::json &record);
    /// Reads every record of an errors JSONL file (replacing the content); false and `error` on failure.
    bool loadFile(const QString &path, QString *error = nullptr);
    void clear();
    int groupCount() const { return int(m_groups.size()); }
    int recordCount() const;

    QModelIndex index(int row, int column, const QModelIndex &parent = QModelIndex()) const override;
    QModelIndex parent(const QModelIndex &child) const override;
    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    struct Record
    {
        qint64 line = 0;
        QString customId;
        QString endpoint;
        int attempts = 0;
        int status = 0;
        QString message; ///< the raw message (child tooltip)
    };
    struct Group
    {
        QString cls;
        QString message;
        QList<Record> records;
        quintptr id = 0; ///< stable across moves: the internalId of the group's child indexes
    };
    /// Appends one record; with `notify` false (inside a reset) no signals are emitted.
    void appendRecord(const nlohmann::json &record, bool notify);
    void resetContent();
    static QString normalizeMessage(const QString &message);

    QList<Group> m_groups;
    QHash<QString, quintptr> m_idByKey; ///< class + '\n' + normalised message -> group id
    QHash<quintptr, int> m_rowById;     ///< group id -> current row
    quintptr m_nextId = 1;
};

} // namespace Sluice::Gui
