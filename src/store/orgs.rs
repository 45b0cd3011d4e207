//! Organizations and their members.

use rusqlite::{OptionalExtension, params};

use super::{Db, unique_conflict};
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Owner,
    Member,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "owner" => Ok(Role::Owner),
            "member" => Ok(Role::Member),
            other => Err(Error::Invalid(format!(
                "role \"{}\" is invalid: use owner or member",
                crate::validate::printable(other)
            ))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Member => "member",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Org {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct OrgSummary {
    pub name: String,
    pub role: Option<Role>,
    pub members: i64,
    pub apps: i64,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub email: String,
    pub role: Role,
    pub created_at: i64,
}

fn role_col(s: String) -> rusqlite::Result<Role> {
    Role::parse(&s).map_err(|e| rusqlite::Error::InvalidColumnName(e.to_string()))
}

impl Db<'_> {
    pub fn create_org(&self, name: &str, owner: i64, now: i64) -> Result<Org> {
        crate::validate::org_name(name)?;
        self.conn
            .execute(
                "INSERT INTO orgs (name, created_at) VALUES (?1, ?2)",
                params![name, now],
            )
            .map_err(|e| {
                unique_conflict(e, || {
                    format!("organization {name} already exists: choose another name")
                })
            })?;
        let id = self.conn.last_insert_rowid();
        self.conn.execute(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?1, ?2, 'owner', ?3)",
            params![id, owner, now],
        )?;
        Ok(Org {
            id,
            name: name.to_string(),
            created_at: now,
        })
    }

    pub fn org_by_name(&self, name: &str) -> Result<Option<Org>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, created_at FROM orgs WHERE name = ?1",
                [name],
                |r| {
                    Ok(Org {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        created_at: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn role_of(&self, org_id: i64, user_id: i64) -> Result<Option<Role>> {
        let r: Option<String> = self
            .conn
            .query_row(
                "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
                params![org_id, user_id],
                |r| r.get(0),
            )
            .optional()?;
        r.map(|s| Role::parse(&s)).transpose()
    }

    /// The orgs `user_id` belongs to, with its role in each.
    pub fn orgs_of(&self, user_id: i64) -> Result<Vec<OrgSummary>> {
        let mut st = self.conn.prepare(
            "SELECT o.name, m.role, o.created_at,
                    (SELECT count(*) FROM memberships WHERE org_id = o.id),
                    (SELECT count(*) FROM apps WHERE org_id = o.id)
             FROM orgs o JOIN memberships m ON m.org_id = o.id AND m.user_id = ?1
             ORDER BY o.name",
        )?;
        let rows = st
            .query_map([user_id], |r| {
                Ok(OrgSummary {
                    name: r.get(0)?,
                    role: Some(role_col(r.get(1)?)?),
                    created_at: r.get(2)?,
                    members: r.get(3)?,
                    apps: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn members(&self, org_id: i64) -> Result<Vec<Member>> {
        let mut st = self.conn.prepare(
            "SELECT u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.org_id = ?1 ORDER BY m.role DESC, u.email",
        )?;
        let rows = st
            .query_map([org_id], |r| {
                Ok(Member {
                    email: r.get(0)?,
                    role: role_col(r.get(1)?)?,
                    created_at: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn owner_count(&self, org_id: i64) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM memberships WHERE org_id = ?1 AND role = 'owner'",
            [org_id],
            |r| r.get(0),
        )?)
    }

    /// Adds a member, or changes the role of one who already is.
    pub fn set_member(&self, org: &Org, user_id: i64, role: Role, now: i64) -> Result<()> {
        match self.role_of(org.id, user_id)? {
            Some(current) if current == role => Err(Error::Conflict(format!(
                "that user is already {} {} of {}",
                if role == Role::Owner { "an" } else { "a" },
                role.as_str(),
                org.name
            ))),
            Some(Role::Owner) if self.owner_count(org.id)? == 1 => Err(last_owner(&org.name)),
            Some(_) => {
                self.conn.execute(
                    "UPDATE memberships SET role = ?1 WHERE org_id = ?2 AND user_id = ?3",
                    params![role.as_str(), org.id, user_id],
                )?;
                Ok(())
            }
            None => {
                self.conn.execute(
                    "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![org.id, user_id, role.as_str(), now],
                )?;
                Ok(())
            }
        }
    }

    pub fn remove_member(&self, org: &Org, user_id: i64, email: &str) -> Result<()> {
        match self.role_of(org.id, user_id)? {
            None => Err(Error::NotFound(format!(
                "{email} is not a member of {}",
                org.name
            ))),
            Some(Role::Owner) if self.owner_count(org.id)? == 1 => Err(last_owner(&org.name)),
            Some(_) => {
                self.conn.execute(
                    "DELETE FROM memberships WHERE org_id = ?1 AND user_id = ?2",
                    params![org.id, user_id],
                )?;
                Ok(())
            }
        }
    }
}

fn last_owner(org: &str) -> Error {
    Error::Conflict(format!(
        "{org} must keep at least one owner: make another member an owner first \
         (`skypanel orgs:members:add -o {org} EMAIL --role owner`)"
    ))
}
