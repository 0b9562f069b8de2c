//! Road networks: drivable OSM ways as a directed graph, or a generated grid.

use glasshouse_model::LatLon;
use osmpbf::{Element, ElementReader};
use serde_json::{Value, json};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::Path;

/// Why a network could not be built.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The PBF could not be read.
    #[error("reading OSM PBF: {0}")]
    Osm(#[from] osmpbf::Error),
    /// Nothing drivable in the extract.
    #[error("the extract has no drivable roads")]
    Empty,
}

/// A directed edge to `to`, `length_m` long, driven at `speed_mps`.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    /// Target node index.
    pub to: usize,
    /// Length in metres.
    pub length_m: f64,
    /// Free-flow speed in metres per second.
    pub speed_mps: f64,
}

/// A drivable road network.
#[derive(Debug, Clone)]
pub struct RoadNetwork {
    /// Node positions.
    pub nodes: Vec<LatLon>,
    /// Outgoing edges per node.
    pub edges: Vec<Vec<Edge>>,
    /// Polylines for drawing (node indices), with their road class.
    pub ways: Vec<(String, Vec<usize>)>,
    /// Nodes in the largest strongly connected component: trips start and end here, so every
    /// trip has a route.
    pub routable: Vec<usize>,
}

/// Default speed by road class when a way has no usable `maxspeed`, km/h (urban Finland).
fn default_speed_kmh(highway: &str) -> Option<f64> {
    Some(match highway {
        "motorway" | "motorway_link" => 100.0,
        "trunk" | "trunk_link" => 70.0,
        "primary" | "primary_link" => 50.0,
        "secondary" | "secondary_link" => 40.0,
        "tertiary" | "tertiary_link" | "unclassified" => 40.0,
        "residential" => 30.0,
        "living_street" => 20.0,
        _ => return None,
    })
}

impl RoadNetwork {
    /// Reads the drivable roads of an OSM PBF extract.
    pub fn from_osm_pbf(path: &Path) -> Result<RoadNetwork, NetworkError> {
        let mut coordinates: HashMap<i64, LatLon> = HashMap::new();
        let mut ways: Vec<(String, Vec<i64>, f64, i8)> = Vec::new();
        ElementReader::from_path(path)?.for_each(|element| match element {
            Element::Node(n) => {
                coordinates.insert(n.id(), LatLon::new(n.lat(), n.lon()));
            }
            Element::DenseNode(n) => {
                coordinates.insert(n.id(), LatLon::new(n.lat(), n.lon()));
            }
            Element::Way(w) => {
                let tags: HashMap<&str, &str> = w.tags().collect();
                let Some(highway) = tags.get("highway") else { return };
                let Some(default_kmh) = default_speed_kmh(highway) else { return };
                let speed_kmh = tags
                    .get("maxspeed")
                    .and_then(|s| s.trim_end_matches(" km/h").parse::<f64>().ok())
                    .filter(|s| *s > 0.0)
                    .unwrap_or(default_kmh);
                let oneway = match tags.get("oneway").copied() {
                    Some("yes") | Some("1") | Some("true") => 1,
                    Some("-1") | Some("reverse") => -1,
                    Some("no") => 0,
                    _ if highway.starts_with("motorway") || tags.get("junction") == Some(&"roundabout") => 1,
                    _ => 0,
                };
                ways.push((highway.to_string(), w.refs().collect(), speed_kmh, oneway));
            }
            Element::Relation(_) => {}
        })?;
        // Sort for determinism: the PBF order is stable, but make it explicit.
        ways.sort_by(|a, b| a.1.first().cmp(&b.1.first()).then(a.1.len().cmp(&b.1.len())));
        let mut index: HashMap<i64, usize> = HashMap::new();
        let mut network = RoadNetwork { nodes: Vec::new(), edges: Vec::new(), ways: Vec::new(), routable: Vec::new() };
        for (highway, refs, speed_kmh, oneway) in ways {
            let mut polyline = Vec::with_capacity(refs.len());
            for id in refs {
                let Some(position) = coordinates.get(&id) else { continue };
                let node = *index.entry(id).or_insert_with(|| {
                    network.nodes.push(*position);
                    network.edges.push(Vec::new());
                    network.nodes.len() - 1
                });
                polyline.push(node);
            }
            let speed_mps = speed_kmh / 3.6;
            for pair in polyline.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                if a == b {
                    continue;
                }
                let length_m = network.nodes[a].distance_m(&network.nodes[b]);
                if oneway >= 0 {
                    network.edges[a].push(Edge { to: b, length_m, speed_mps });
                }
                if oneway <= 0 {
                    network.edges[b].push(Edge { to: a, length_m, speed_mps });
                }
            }
            if polyline.len() >= 2 {
                network.ways.push((highway, polyline));
            }
        }
        if network.nodes.is_empty() {
            return Err(NetworkError::Empty);
        }
        network.routable = network.largest_strong_component();
        Ok(network)
    }

    /// A grid city: `columns` × `rows` intersections `spacing_m` apart, two-way streets at 40 km/h,
    /// south-west corner at `origin`.
    pub fn grid(columns: usize, rows: usize, spacing_m: f64, origin: LatLon) -> RoadNetwork {
        assert!(columns >= 2 && rows >= 2, "a grid needs at least 2 × 2 intersections");
        let mut nodes = Vec::with_capacity(columns * rows);
        for row in 0..rows {
            let west = origin.destination(0.0, row as f64 * spacing_m);
            for column in 0..columns {
                nodes.push(west.destination(90.0, column as f64 * spacing_m));
            }
        }
        let mut network = RoadNetwork { edges: vec![Vec::new(); nodes.len()], nodes, ways: Vec::new(), routable: Vec::new() };
        let speed_mps = 40.0 / 3.6;
        let id = |row: usize, column: usize| row * columns + column;
        for row in 0..rows {
            for column in 0..columns {
                for (r, c) in [(row, column + 1), (row + 1, column)] {
                    if r < rows && c < columns {
                        let (a, b) = (id(row, column), id(r, c));
                        let length_m = network.nodes[a].distance_m(&network.nodes[b]);
                        network.edges[a].push(Edge { to: b, length_m, speed_mps });
                        network.edges[b].push(Edge { to: a, length_m, speed_mps });
                    }
                }
            }
        }
        for row in 0..rows {
            network.ways.push(("residential".into(), (0..columns).map(|c| id(row, c)).collect()));
        }
        for column in 0..columns {
            network.ways.push(("residential".into(), (0..rows).map(|r| id(r, column)).collect()));
        }
        network.routable = (0..network.nodes.len()).collect();
        network
    }

    /// Nodes where three or more road segments meet (counting each neighbour once, whatever the
    /// direction of travel), within the routable component.
    pub fn intersections(&self) -> Vec<usize> {
        let mut neighbours: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for (from, edges) in self.edges.iter().enumerate() {
            for edge in edges {
                neighbours[from].push(edge.to);
                neighbours[edge.to].push(from);
            }
        }
        for list in &mut neighbours {
            list.sort_unstable();
            list.dedup();
        }
        self.routable.iter().copied().filter(|&n| neighbours[n].len() >= 3).collect()
    }

    /// The fastest route from `from` to `to` as (node, seconds from departure), or `None`.
    pub fn route(&self, from: usize, to: usize) -> Option<Vec<(usize, f64)>> {
        let mut best = vec![f64::INFINITY; self.nodes.len()];
        let mut previous = vec![usize::MAX; self.nodes.len()];
        let mut heap = BinaryHeap::new();
        best[from] = 0.0;
        heap.push(Reverse((Millis(0), from)));
        while let Some(Reverse((Millis(ms), node))) = heap.pop() {
            let cost = ms as f64 / 1000.0;
            if cost > best[node] {
                continue;
            }
            if node == to {
                break;
            }
            for edge in &self.edges[node] {
                let next = cost + edge.length_m / edge.speed_mps;
                if next < best[edge.to] {
                    best[edge.to] = next;
                    previous[edge.to] = node;
                    heap.push(Reverse((Millis((next * 1000.0) as u64), edge.to)));
                }
            }
        }
        if !best[to].is_finite() {
            return None;
        }
        let mut path = vec![(to, best[to])];
        let mut node = to;
        while node != from {
            node = previous[node];
            path.push((node, best[node]));
        }
        path.reverse();
        Some(path)
    }

    fn largest_strong_component(&self) -> Vec<usize> {
        // Kosaraju, iteratively: an OSM extract has dead ends and one-ways cut at its border.
        let n = self.nodes.len();
        let mut order = Vec::with_capacity(n);
        let mut visited = vec![false; n];
        for start in 0..n {
            if visited[start] {
                continue;
            }
            visited[start] = true;
            let mut stack = vec![(start, 0usize)];
            while let Some((node, next_edge)) = stack.last_mut() {
                if let Some(edge) = self.edges[*node].get(*next_edge) {
                    *next_edge += 1;
                    if !visited[edge.to] {
                        visited[edge.to] = true;
                        stack.push((edge.to, 0));
                    }
                } else {
                    order.push(*node);
                    stack.pop();
                }
            }
        }
        let mut reverse = vec![Vec::new(); n];
        for (from, edges) in self.edges.iter().enumerate() {
            for edge in edges {
                reverse[edge.to].push(from);
            }
        }
        let mut component = vec![usize::MAX; n];
        let mut sizes = Vec::new();
        for &start in order.iter().rev() {
            if component[start] != usize::MAX {
                continue;
            }
            let id = sizes.len();
            let mut size = 0;
            let mut stack = vec![start];
            component[start] = id;
            while let Some(node) = stack.pop() {
                size += 1;
                for &prev in &reverse[node] {
                    if component[prev] == usize::MAX {
                        component[prev] = id;
                        stack.push(prev);
                    }
                }
            }
            sizes.push(size);
        }
        let largest = (0..sizes.len()).max_by_key(|&i| (sizes[i], Reverse(i))).unwrap_or(0);
        (0..n).filter(|&node| component[node] == largest).collect()
    }

    /// The roads as a GeoJSON FeatureCollection of LineStrings with a `highway` property.
    pub fn to_geojson(&self) -> Value {
        let features: Vec<Value> = self
            .ways
            .iter()
            .map(|(highway, nodes)| {
                let coordinates: Vec<[f64; 2]> = nodes.iter().map(|&n| [round6(self.nodes[n].lon), round6(self.nodes[n].lat)]).collect();
                json!({"type": "Feature", "properties": {"highway": highway}, "geometry": {"type": "LineString", "coordinates": coordinates}})
            })
            .collect();
        json!({"type": "FeatureCollection", "features": features})
    }

    /// `[min_lon, min_lat, max_lon, max_lat]` of all nodes.
    pub fn bbox(&self) -> [f64; 4] {
        let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for p in &self.nodes {
            b = [b[0].min(p.lon), b[1].min(p.lat), b[2].max(p.lon), b[3].max(p.lat)];
        }
        b
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Millis(u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_routes_along_manhattan_distance() {
        let grid = RoadNetwork::grid(5, 4, 100.0, LatLon::new(60.0, 25.0));
        assert_eq!(grid.nodes.len(), 20);
        let route = grid.route(0, 19).unwrap();
        assert_eq!(route.first().unwrap().0, 0);
        assert_eq!(route.last().unwrap().0, 19);
        // 4 blocks east and 3 north, 100 m each, at 40 km/h.
        let expected_secs = 700.0 / (40.0 / 3.6);
        assert!((route.last().unwrap().1 - expected_secs).abs() < 1.0, "{route:?}");
        assert_eq!(route.len(), 8);
    }

    #[test]
    fn helsinki_has_a_large_routable_core() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/osm/helsinki-central.osm.pbf");
        if !path.exists() {
            eprintln!("skipping: {} is absent", path.display());
            return;
        }
        let network = RoadNetwork::from_osm_pbf(&path).unwrap();
        assert!(network.routable.len() > 500, "routable core has {} nodes", network.routable.len());
        assert!(network.intersections().len() > 100);
        let (a, b) = (network.routable[0], network.routable[network.routable.len() / 2]);
        assert!(network.route(a, b).is_some());
        let bbox = network.bbox();
        assert!(bbox[0] > 24.9 && bbox[2] < 25.0 && bbox[1] > 60.15 && bbox[3] < 60.2, "{bbox:?}");
    }
}
