//! What validated CHECK constraints say about NULLs (DESIGN §2, ownership): large schemas add
//! NOT NULL as `CHECK (col IS NOT NULL)` (no table rewrite), and "this row belongs to exactly
//! one of organization / group / project" as `CHECK (num_nonnulls(a, b, c) = 1)` or its
//! hand-written forms. We read `pg_get_constraintdef`'s normalized text with a small parser and
//! answer one question: which groups of columns must hold at least one non-NULL value. A group
//! of one column is a NOT NULL column.
//!
//! Anything the parser does not understand says nothing (no group): a check can only add
//! ownership, never take it away.

/// Column groups of which at least one column is non-NULL in every row, for one CHECK
/// constraint definition (`CHECK ((…))`, as `pg_get_constraintdef` prints it).
pub fn non_null_groups(definition: &str) -> Vec<Vec<String>> {
    let Some(body) = definition.trim().strip_prefix("CHECK") else {
        return Vec::new();
    };
    let body = body.trim().trim_end_matches("NOT VALID").trim();
    let tokens = tokenize(body);
    let mut parser = Parser { tokens, at: 0 };
    let Some(expr) = parser.or() else {
        return Vec::new();
    };
    if parser.at != parser.tokens.len() {
        return Vec::new();
    }
    groups(&expr)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Number(i64),
    Punct(String),
}

fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut name = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '"' {
                    if chars.get(i + 1) == Some(&'"') {
                        name.push('"');
                        i += 2;
                        continue;
                    }
                    break;
                }
                name.push(chars[i]);
                i += 1;
            }
            i += 1;
            tokens.push(Token::Ident(name));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            // Unquoted identifiers are folded to lower case; keywords are compared upper.
            tokens.push(Token::Ident(chars[start..i].iter().collect::<String>()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            tokens.push(match text.parse() {
                Ok(n) => Token::Number(n),
                Err(_) => Token::Punct(text),
            });
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["::", ">=", "<=", "<>", "!="].contains(&two.as_str()) {
                tokens.push(Token::Punct(two));
                i += 2;
            } else {
                tokens.push(Token::Punct(c.to_string()));
                i += 1;
            }
        }
    }
    tokens
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    /// `col IS [NOT] NULL`: (column, is_not_null)
    NullTest(String, bool),
    Column(String),
    Number(i64),
    Call(String, Vec<Expr>),
    Compare(String, Box<Expr>, Box<Expr>),
    Sum(Vec<Expr>),
    /// Something we do not interpret.
    Other,
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Token::Punct(q)) if q == p)
    }

    fn expect_punct(&mut self, p: &str) -> Option<()> {
        self.punct(p).then(|| self.at += 1)
    }

    fn or(&mut self) -> Option<Expr> {
        let mut terms = vec![self.and()?];
        while self.keyword("OR") {
            self.at += 1;
            terms.push(self.and()?);
        }
        Some(if terms.len() == 1 {
            terms.pop()?
        } else {
            Expr::Or(terms)
        })
    }

    fn and(&mut self) -> Option<Expr> {
        let mut terms = vec![self.not()?];
        while self.keyword("AND") {
            self.at += 1;
            terms.push(self.not()?);
        }
        Some(if terms.len() == 1 {
            terms.pop()?
        } else {
            Expr::And(terms)
        })
    }

    fn not(&mut self) -> Option<Expr> {
        if self.keyword("NOT") {
            self.at += 1;
            return Some(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Option<Expr> {
        let left = self.sum()?;
        if self.keyword("IS") {
            self.at += 1;
            let negated = self.keyword("NOT");
            if negated {
                self.at += 1;
            }
            if !self.keyword("NULL") {
                return None;
            }
            self.at += 1;
            return Some(match left {
                Expr::Column(c) => Expr::NullTest(c, negated),
                _ => Expr::Other,
            });
        }
        for op in ["=", ">=", "<=", "<>", "!=", ">", "<"] {
            if self.punct(op) {
                self.at += 1;
                let right = self.sum()?;
                let op = if op == "!=" { "<>" } else { op };
                return Some(Expr::Compare(
                    op.to_string(),
                    Box::new(left),
                    Box::new(right),
                ));
            }
        }
        Some(left)
    }

    fn sum(&mut self) -> Option<Expr> {
        let mut terms = vec![self.cast()?];
        while self.punct("+") {
            self.at += 1;
            terms.push(self.cast()?);
        }
        Some(if terms.len() == 1 {
            terms.pop()?
        } else {
            Expr::Sum(terms)
        })
    }

    /// `expr::type` — the type is skipped: `(a IS NOT NULL)::integer` counts as the test.
    fn cast(&mut self) -> Option<Expr> {
        let expr = self.primary()?;
        while self.punct("::") {
            self.at += 1;
            match self.peek() {
                Some(Token::Ident(_)) => self.at += 1,
                _ => return None,
            }
            // `character varying`, `double precision`: a second word.
            while matches!(self.peek(), Some(Token::Ident(w)) if !["AND", "OR", "IS"].contains(&w.to_uppercase().as_str()))
            {
                self.at += 1;
            }
        }
        Some(expr)
    }

    fn primary(&mut self) -> Option<Expr> {
        match self.peek()?.clone() {
            Token::Punct(p) if p == "(" => {
                self.at += 1;
                let inner = self.or()?;
                self.expect_punct(")")?;
                Some(inner)
            }
            Token::Number(n) => {
                self.at += 1;
                Some(Expr::Number(n))
            }
            Token::Ident(name) => {
                self.at += 1;
                if self.punct("(") {
                    self.at += 1;
                    let mut args = Vec::new();
                    if !self.punct(")") {
                        loop {
                            args.push(self.or()?);
                            if self.punct(",") {
                                self.at += 1;
                                continue;
                            }
                            break;
                        }
                    }
                    self.expect_punct(")")?;
                    return Some(Expr::Call(name.to_lowercase(), args));
                }
                Some(Expr::Column(name))
            }
            Token::Punct(p) if p == "'" => None,
            Token::Punct(_) => None,
        }
    }
}

/// Columns an expression requires to be non-NULL when it is true.
fn required_non_null(expr: &Expr) -> Vec<String> {
    match expr {
        Expr::NullTest(column, true) => vec![column.clone()],
        Expr::Not(inner) => match inner.as_ref() {
            Expr::NullTest(column, false) => vec![column.clone()],
            _ => Vec::new(),
        },
        Expr::And(terms) => terms.iter().flat_map(required_non_null).collect(),
        _ => Vec::new(),
    }
}

/// The columns of `num_nonnulls(…)`, `num_nulls(…)` or `(a IS NOT NULL)::int + …`, with
/// whether the count is of non-NULLs.
fn counted_columns(expr: &Expr) -> Option<(Vec<String>, bool)> {
    match expr {
        Expr::Call(name, args) if name == "num_nonnulls" || name == "num_nulls" => {
            let columns: Option<Vec<String>> = args
                .iter()
                .map(|a| match a {
                    Expr::Column(c) => Some(c.clone()),
                    _ => None,
                })
                .collect();
            Some((columns?, name == "num_nonnulls"))
        }
        Expr::Sum(terms) => {
            let columns: Option<Vec<String>> = terms
                .iter()
                .map(|t| match t {
                    Expr::NullTest(c, true) => Some(c.clone()),
                    _ => None,
                })
                .collect();
            Some((columns?, true))
        }
        _ => None,
    }
}

/// Whether `count op k` implies that at least one of `n` columns is non-NULL.
fn implies_one_non_null(op: &str, k: i64, n: i64, counts_non_nulls: bool) -> bool {
    if counts_non_nulls {
        // non-nulls op k ⇒ non-nulls ≥ 1
        match op {
            "=" | ">=" => k >= 1,
            ">" => k >= 0,
            "<>" => k == 0,
            _ => false,
        }
    } else {
        // nulls op k ⇒ nulls ≤ n − 1
        match op {
            "=" | "<=" => k < n,
            "<" => k <= n,
            _ => false,
        }
    }
}

fn groups(expr: &Expr) -> Vec<Vec<String>> {
    match expr {
        Expr::And(terms) => terms.iter().flat_map(groups).collect(),
        Expr::NullTest(..) | Expr::Not(_) => required_non_null(expr)
            .into_iter()
            .map(|c| vec![c])
            .collect(),
        Expr::Compare(op, left, right) => {
            let (counted, op, k) = match (left.as_ref(), right.as_ref()) {
                (counted, Expr::Number(k)) => (counted, op.as_str(), *k),
                (Expr::Number(k), counted) => (counted, flip(op), *k),
                _ => return Vec::new(),
            };
            match counted_columns(counted) {
                Some((columns, non_nulls))
                    if implies_one_non_null(op, k, columns.len() as i64, non_nulls) =>
                {
                    vec![columns]
                }
                _ => Vec::new(),
            }
        }
        // (a IS NOT NULL AND b IS NULL) OR (a IS NULL AND b IS NOT NULL): every branch
        // requires one of {a, b}.
        Expr::Or(branches) => {
            let mut group: Vec<String> = Vec::new();
            for branch in branches {
                let required = required_non_null(branch);
                if required.is_empty() {
                    return Vec::new();
                }
                for column in required {
                    if !group.contains(&column) {
                        group.push(column);
                    }
                }
            }
            vec![group]
        }
        _ => Vec::new(),
    }
}

fn flip(op: &str) -> &str {
    match op {
        ">=" => "<=",
        "<=" => ">=",
        ">" => "<",
        "<" => ">",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(def: &str) -> Vec<Vec<String>> {
        non_null_groups(def)
    }

    #[test]
    fn not_null_written_as_a_check() {
        assert_eq!(
            g("CHECK ((project_id IS NOT NULL))"),
            vec![vec!["project_id"]]
        );
        assert_eq!(
            g("CHECK ((\"organizationId\" IS NOT NULL))"),
            vec![vec!["organizationId"]]
        );
        assert_eq!(
            g("CHECK (((a IS NOT NULL) AND (b > 0) AND (NOT (c IS NULL))))"),
            vec![vec!["a"], vec!["c"]]
        );
        assert!(g("CHECK ((a IS NULL))").is_empty());
        assert!(g("CHECK ((price > (0)::numeric))").is_empty());
    }

    #[test]
    fn exactly_or_at_least_one_of_several_columns() {
        let abc = vec![vec!["a".to_string(), "b".into(), "c".into()]];
        assert_eq!(g("CHECK ((num_nonnulls(a, b, c) = 1))"), abc);
        assert_eq!(g("CHECK ((num_nonnulls(a, b, c) >= 1))"), abc);
        assert_eq!(g("CHECK ((num_nonnulls(a, b, c) > 0))"), abc);
        assert_eq!(g("CHECK ((num_nulls(a, b, c) = 2))"), abc);
        assert_eq!(g("CHECK ((num_nulls(a, b, c) < 3))"), abc);
        assert!(g("CHECK ((num_nonnulls(a, b, c) <= 1))").is_empty());
        assert!(g("CHECK ((num_nulls(a, b, c) >= 1))").is_empty());
        let ab = vec![vec!["a".to_string(), "b".into()]];
        assert_eq!(g("CHECK (((a IS NOT NULL) OR (b IS NOT NULL)))"), ab);
        assert_eq!(
            g("CHECK ((((a IS NOT NULL) AND (b IS NULL)) OR ((a IS NULL) AND (b IS NOT NULL))))"),
            ab
        );
        assert_eq!(
            g("CHECK (((((a IS NOT NULL))::integer + ((b IS NOT NULL))::integer) = 1))"),
            ab
        );
        assert!(g("CHECK (((a IS NOT NULL) OR (b > 1)))").is_empty());
    }
}
