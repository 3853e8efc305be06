//! Paging as the reference does it (Spring Data): `page` (from 0), `size` (default 10),
//! `sort=property[,asc|desc]` (repeatable); answers in Spring's `Page` JSON.

use serde_json::{Value, json};

use super::query::Query;

/// Spring Data's default and largest page size.
pub const DEFAULT_PAGE_SIZE: u32 = 10;
pub const MAX_PAGE_SIZE: u32 = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortDirection {
    Asc,
    Desc,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sort {
    pub property: String,
    pub direction: SortDirection,
}

/// A requested page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pageable {
    pub page: u32,
    pub size: u32,
    /// Empty: the endpoint's default order.
    pub sort: Vec<Sort>,
}

/// A query parameter that does not hold what it must: `(name, value, expected)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadParam {
    pub name: String,
    pub value: String,
    pub expected: &'static str,
}

impl Default for Pageable {
    fn default() -> Self {
        Pageable { page: 0, size: DEFAULT_PAGE_SIZE, sort: Vec::new() }
    }
}

impl Pageable {
    /// Read `page`, `size` and `sort`; `sortable` lists the properties that may be
    /// sorted on. Like Spring, a size above the maximum is clamped, not refused.
    pub fn from_query(q: &Query, sortable: &[&str]) -> Result<Self, BadParam> {
        let number = |name: &str| -> Result<Option<u32>, BadParam> {
            q.get(name)
                .map(|v| {
                    v.parse::<u32>().map_err(|_| BadParam {
                        name: name.to_owned(),
                        value: v.to_owned(),
                        expected: "a whole number from 0",
                    })
                })
                .transpose()
        };
        let page = number("page")?.unwrap_or(0);
        let size = number("size")?.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE);
        let mut sort = Vec::new();
        for s in q.all("sort").filter(|s| !s.is_empty()) {
            let (property, direction) = match s.split_once(',') {
                None => (s, SortDirection::Asc),
                Some((p, d)) if d.eq_ignore_ascii_case("asc") => (p, SortDirection::Asc),
                Some((p, d)) if d.eq_ignore_ascii_case("desc") => (p, SortDirection::Desc),
                Some(_) => {
                    return Err(BadParam {
                        name: "sort".into(),
                        value: s.to_owned(),
                        expected: "property[,asc|desc]",
                    });
                }
            };
            if !sortable.contains(&property) {
                return Err(BadParam {
                    name: "sort".into(),
                    value: s.to_owned(),
                    expected: "a property of the listed resource",
                });
            }
            sort.push(Sort { property: property.to_owned(), direction });
        }
        Ok(Pageable { page, size, sort })
    }

    pub fn offset(&self) -> u64 {
        u64::from(self.page) * u64::from(self.size)
    }
}

/// Spring's `Page` JSON around `content`, given the total number of matches.
pub fn page_json(content: Vec<Value>, pageable: &Pageable, total: u64) -> Value {
    let sorted = !pageable.sort.is_empty();
    let sort = json!({"sorted": sorted, "unsorted": !sorted, "empty": !sorted});
    let size = u64::from(pageable.size);
    let total_pages = total.div_ceil(size);
    let n = content.len();
    json!({
        "content": content,
        "pageable": {
            "sort": sort,
            "pageNumber": pageable.page,
            "pageSize": pageable.size,
            "offset": pageable.offset(),
            "paged": true,
            "unpaged": false
        },
        "totalElements": total,
        "last": u64::from(pageable.page) + 1 >= total_pages,
        "totalPages": total_pages,
        "sort": sort,
        "numberOfElements": n,
        "first": pageable.page == 0,
        "size": pageable.size,
        "number": pageable.page,
        "empty": n == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(s).unwrap()
    }

    #[test]
    fn defaults_and_sorting() {
        assert_eq!(Pageable::from_query(&q(""), &[]).unwrap(), Pageable::default());
        let p = Pageable::from_query(
            &q("page=2&size=5&sort=lastUpdate,desc&sort=id"),
            &["lastUpdate", "id"],
        )
        .unwrap();
        assert_eq!((p.page, p.size, p.offset()), (2, 5, 10));
        assert_eq!(
            p.sort[0],
            Sort { property: "lastUpdate".into(), direction: SortDirection::Desc }
        );
        assert_eq!(p.sort[1].direction, SortDirection::Asc);
        assert_eq!(Pageable::from_query(&q("size=100000"), &[]).unwrap().size, MAX_PAGE_SIZE);
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let e = Pageable::from_query(&q("page=-1"), &[]).unwrap_err();
        assert_eq!(e.name, "page");
        let e = Pageable::from_query(&q("sort=password"), &["id"]).unwrap_err();
        assert_eq!(e.name, "sort");
        assert!(Pageable::from_query(&q("sort=id,sideways"), &["id"]).is_err());
    }

    /// The shape of the reference's "Find incoming messages" example: two hits, page 0.
    #[test]
    fn page_json_matches_the_reference_shape() {
        let j = page_json(vec![json!(1), json!(2)], &Pageable::default(), 2);
        assert_eq!(
            j,
            json!({
                "content": [1, 2],
                "pageable": {"sort": {"sorted": false, "unsorted": true, "empty": true},
                    "pageNumber": 0, "pageSize": 10, "offset": 0, "paged": true, "unpaged": false},
                "totalElements": 2, "last": true, "totalPages": 1,
                "sort": {"sorted": false, "unsorted": true, "empty": true},
                "numberOfElements": 2, "first": true, "size": 10, "number": 0, "empty": false
            })
        );
        let j = page_json(vec![], &Pageable { page: 1, size: 10, sort: vec![] }, 25);
        assert_eq!(
            (j["totalPages"].as_u64(), j["last"].as_bool(), j["first"].as_bool()),
            (Some(3), Some(false), Some(false))
        );
    }
}
