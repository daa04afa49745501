-- Score this year's customers with the tour's model and keep the answers in a table.
CREATE OR REPLACE TABLE churn_scores AS
SELECT id, PREDICT_PROBA(churn, c.*) AS churn_probability
FROM customers_2025 AS c;

SELECT count(*) AS customers,
       round(avg(churn_probability), 3) AS mean_probability,
       count(*) FILTER (WHERE churn_probability > 0.5) AS likely_to_churn
FROM churn_scores;
