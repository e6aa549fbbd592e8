//! Strongly connected components of a directed graph (Tarjan's algorithm): the one home of a
//! fact both scope and restore need — which tables reference each other in a loop — so that
//! scope can read a cycle with one recursive CTE and restore can load one in one statement.
//! Nodes are `usize` indices into the caller's own list; what an edge means, and what a
//! component is used for, is the caller's business.

/// The strongly connected components of the graph in which node `v` (`0..successors.len()`)
/// has an edge to each node of `successors[v]`.
///
/// The order is part of the contract:
/// - a component comes after every component it reaches (reverse topological order): with
///   edges from a referencing table to the one it references, referenced tables come first;
/// - the search starts at node 0, then at the lowest node not yet reached, and follows each
///   node's successors in the order given, so equal input gives equal output;
/// - the nodes of a component are in ascending order.
///
/// Every node is in exactly one component; a node on no cycle is a component of one, with or
/// without an edge to itself (callers that care about self-loops look at their edges).
pub fn strongly_connected(successors: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = successors.len();
    let mut tarjan = Tarjan {
        successors,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        components: Vec::new(),
    };
    for v in 0..n {
        if tarjan.index[v].is_none() {
            tarjan.visit(v);
        }
    }
    tarjan.components
}

struct Tarjan<'g> {
    successors: &'g [Vec<usize>],
    /// Depth-first discovery number of each node, once visited.
    index: Vec<Option<usize>>,
    /// The lowest discovery number reachable from the node through its subtree.
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    components: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, v: usize) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &self.successors[v] {
            match self.index[w] {
                None => {
                    self.visit(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            component.sort_unstable();
            self.components.push(component);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strongly_connected;

    #[test]
    fn a_graph_without_cycles_is_one_component_per_node_reached_nodes_first() {
        // 0 → 1 → 2, 3 → 1
        let successors = vec![vec![1], vec![2], vec![], vec![1]];
        assert_eq!(
            strongly_connected(&successors),
            vec![vec![2], vec![1], vec![0], vec![3]]
        );
    }

    #[test]
    fn a_cycle_is_one_component_in_ascending_order_after_what_it_reaches() {
        // 0 → 3 → 1 → 0 form a cycle that reaches 2; 4 reaches the cycle.
        let successors = vec![vec![3], vec![0], vec![], vec![1, 2], vec![0]];
        assert_eq!(
            strongly_connected(&successors),
            vec![vec![2], vec![0, 1, 3], vec![4]]
        );
    }

    #[test]
    fn a_self_loop_is_a_component_of_one() {
        let successors = vec![vec![0, 1], vec![]];
        assert_eq!(strongly_connected(&successors), vec![vec![1], vec![0]]);
    }

    #[test]
    fn successors_are_followed_in_the_order_given() {
        let successors = vec![vec![2, 1], vec![], vec![]];
        assert_eq!(
            strongly_connected(&successors),
            vec![vec![2], vec![1], vec![0]]
        );
        let successors = vec![vec![1, 2], vec![], vec![]];
        assert_eq!(
            strongly_connected(&successors),
            vec![vec![1], vec![2], vec![0]]
        );
    }

    #[test]
    fn an_empty_graph_has_no_components() {
        assert!(strongly_connected(&[]).is_empty());
    }
}
